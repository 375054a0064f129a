"""Type stubs of ``bastion._native``, the PyO3 extension over bastion's Rust core.

Hand-written and checked against the binary with ``python -m mypy.stubtest bastion._native``.
"""

import builtins
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any, Literal, final

__all__ = [
    "ApiKeyHasher",
    "ApiKeyRecord",
    "ApiKeys",
    "BreakerPermit",
    "CacheFill",
    "CircuitBreaker",
    "CreatedApiKey",
    "Decision",
    "Flight",
    "HttpAnswer",
    "IssuedApiKey",
    "JwksClient",
    "Key",
    "KeySet",
    "Lease",
    "Leases",
    "LimitStatus",
    "Lockout",
    "LockoutState",
    "ManualClock",
    "PasswordHasher",
    "RateLimiter",
    "RequestKey",
    "SharedCache",
    "SingleFlight",
    "Store",
    "TokenPair",
    "TokenService",
    "Verifier",
    "add_event_listener",
    "ahealth",
    "api_key_id",
    "argon2_hash_raw",
    "check_signing_key_separate",
    "client_ip",
    "client_key",
    "health",
    "http_answer_for",
    "http_authorization_token",
    "http_holds_role",
    "http_methods",
    "http_problem",
    "http_unauthorized",
    "identify_hash",
    "jwt_decode",
    "jwt_decode_complete",
    "jwt_encode",
    "jwt_get_unverified_header",
    "memory_budget",
    "metrics",
    "set_memory_budget_kib",
    "set_verified_token_cache_size",
    "sign",
    "supported_algorithms",
    "validate_secret",
    "verify_jws",
    "verify_password",
]

# ---- clock ---------------------------------------------------------------------------

@final
class ManualClock:
    """A clock that moves only when told to; copies share the same time."""

    def __new__(cls, now: float = 0.0) -> ManualClock: ...
    def now(self) -> float:
        """Seconds since the Unix epoch."""
    def set(self, secs: float) -> None:
        """Sets the time to ``secs`` seconds since the Unix epoch."""
    def advance(self, secs: float) -> None:
        """Moves the time by ``secs`` seconds (backward when negative)."""

# ---- lockout -------------------------------------------------------------------------

@final
class LockoutState:
    """A lockout's state for one attempt: the worst of its keys (``repr`` shows counts only)."""

    @property
    def locked(self) -> bool:
        """True while a key of the attempt is locked."""
    @property
    def retry_after(self) -> int:
        """Whole seconds until the lock ends, rounded up (0 when not locked)."""
    @property
    def locked_until(self) -> float | None:
        """When the lock ends (seconds since the epoch), or None."""
    @property
    def failures(self) -> int:
        """Failures counted on the worst key."""
    @property
    def remaining(self) -> int:
        """Failures the worst key may still take before it locks (0 when locked)."""
    @property
    def parameters(self) -> list[str]:
        """The parameter group of the worst key; empty when none applied."""
    def raise_if_locked(self) -> None:
        """Raises ``AccountLockedError`` (with ``retry_after``) when locked."""

@final
class BreakerPermit:
    """The right to make one call through a breaker. Report how it ended once (later reports do
    nothing); each report returns the state it moved the breaker to, or None."""

    def success(self) -> str | None: ...
    def failure(self) -> str | None: ...
    def ignore(self) -> str | None: ...
    def asuccess(self) -> Awaitable[str | None]:
        """``success()`` as an awaitable (a shared breaker's report may be a round trip)."""
    def afailure(self) -> Awaitable[str | None]: ...
    @property
    def is_probe(self) -> bool: ...

@final
class CircuitBreaker:
    """The native circuit breaker; :class:`bastion.CircuitBreaker` wraps it."""

    def __new__(
        cls,
        name: str = "default",
        *,
        fail_max: int = 5,
        reset_timeout: float | str | timedelta | None = 60,
        success_threshold: int = 1,
        failure_rate: float | None = None,
        window_calls: int | None = None,
        window_time: float | str | timedelta | None = None,
        minimum_calls: int = 10,
        slow_call_rate: float | None = None,
        slow_call_duration: float | str | timedelta | None = None,
        max_reset_timeout: float | str | timedelta | None = None,
        backoff_multiplier: float = 2.0,
        half_open_max_calls: int = 1,
        probe_timeout: float | str | timedelta | None = None,
        call_timeout: float | str | timedelta | None = None,
        clock: ManualClock | None = None,
        on_event: Callable[[dict[str, Any]], object] | None = None,
        is_failure: Callable[[BaseException], bool] | None = None,
        result_is_failure: Callable[[Any], bool] | None = None,
        store: Store | None = None,
        sync_interval: float | str | timedelta | None = 1,
        flush_interval: float | str | timedelta | None = 0.1,
    ) -> CircuitBreaker: ...
    def call(self, fn_: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Calls ``fn_(*args, **kwargs)`` through the breaker (``CircuitOpenError`` when rejected)."""
    def report_error(self, permit: BreakerPermit, exc: BaseException) -> str | None:
        """Reports the call as ended by ``exc``, counted as ``call`` counts it."""
    def report_result(self, permit: BreakerPermit, result: object) -> str | None:
        """Reports the call as having returned ``result``."""
    def acquire(self) -> BreakerPermit:
        """Raises ``CircuitOpenError`` (with ``retry_after``) when rejected."""
    def try_acquire(self) -> BreakerPermit | None: ...
    @property
    def state(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def call_timeout(self) -> float | None: ...
    def stats(self) -> dict[str, Any]: ...
    def sync(self) -> None:
        """Shared through Redis: reads the shared state now and follows it."""
    def acquire_async(self) -> Awaitable[BreakerPermit]:
        """``acquire()`` as an awaitable (a shared breaker awaits its round trip)."""
    def areport_error(self, permit: BreakerPermit, exc: BaseException) -> Awaitable[str | None]: ...
    def areport_result(self, permit: BreakerPermit, result: object) -> Awaitable[str | None]: ...
    @property
    def shared(self) -> bool: ...
    def open(self) -> None: ...
    def close(self) -> None: ...
    def half_open(self) -> None: ...

@final
class Flight:
    """One caller's part in a flight (see :class:`bastion.SingleFlight`)."""

    @property
    def is_leader(self) -> bool: ...
    def complete(self, value: object) -> int: ...
    def fail(self, error: BaseException) -> int: ...
    def abandon(self) -> None: ...
    def wait(self) -> tuple[str, Any]: ...
    def wait_async(self) -> Awaitable[tuple[str, Any]]: ...

@final
class SingleFlight:
    """The native table of flights; :class:`bastion.SingleFlight` wraps it."""

    def __new__(cls) -> SingleFlight: ...
    def begin(self, key: str) -> Flight: ...
    def forget(self, key: str) -> None: ...
    def waiting(self, key: str) -> int: ...
    @property
    def in_flight(self) -> int: ...

@final
class Lease:
    """A held lease (see :class:`Leases`)."""

    @property
    def fence(self) -> int: ...
    @property
    def lost(self) -> bool: ...
    def start_renewal(self) -> None: ...
    def extend(self, ttl: float | str | None = None) -> bool: ...
    def release(self) -> bool: ...

@final
class Leases:
    """One holder per name across the processes sharing a store, with fencing tokens; waiters
    wake by broadcast. :mod:`bastion.compat.redis_lock` wraps it."""

    def __new__(cls, store: Store) -> Leases: ...
    def acquire(
        self, name: str, owner: str, ttl: float | str, timeout: float | str | None = None
    ) -> Lease | None: ...
    def release(self, name: str, owner: str, fence: int = 0) -> bool: ...
    def renew(self, name: str, owner: str, ttl: float | str, fence: int = 0) -> bool: ...
    def reset(self, name: str) -> bool: ...
    def holder(self, name: str) -> tuple[str, int, float] | None: ...

@final
class CacheFill:
    """A caller's turn to compute a key of a :class:`SharedCache`."""

    @property
    def fence(self) -> int | None: ...
    def finish(self, value: bytes | None) -> tuple[bytes | None, str]: ...
    def afinish(self, value: bytes | None) -> Awaitable[tuple[bytes | None, str]]: ...
    def fail(self, exc: BaseException) -> tuple[bytes | None, str] | None: ...
    def afail(self, exc: BaseException) -> Awaitable[tuple[bytes | None, str] | None]: ...
    def abandon(self) -> None: ...

@final
class SharedCache:
    """The cache tier shared through a store; :class:`bastion.Cache` wraps it."""

    def __new__(
        cls,
        store: Store | None = None,
        *,
        namespace: str = "cache",
        ttl: float | str | None = None,
        stale_while_revalidate: float | str | None = None,
        stale_if_error: float | str | None = None,
        negative_ttl: float | str | None = None,
        xfetch_beta: float = 1.0,
        max_entries: int = 10_000,
        lease_ttl: float | str | None = None,
        wait_timeout: float | str | None = None,
        max_value_bytes: int = 1_048_576,
        local_ttl: float | str | None = None,
        seed: int | None = None,
        on_event: Callable[[dict[str, str]], object] | None = None,
    ) -> SharedCache: ...
    def begin(
        self, key: str
    ) -> tuple[Literal["value"], tuple[bytes | None, str]] | tuple[Literal["compute"], CacheFill]: ...
    def abegin(
        self, key: str
    ) -> (
        tuple[Literal["value"], tuple[bytes | None, str]]
        | Awaitable[tuple[Literal["value"], tuple[bytes | None, str]] | tuple[Literal["compute"], CacheFill]]
    ): ...
    def invalidate(self, key: str) -> None: ...
    def ready(self, timeout: float = 5.0) -> bool: ...
    def waiting(self, key: str) -> int: ...
    def local_entries(self) -> int: ...
    def stats(self) -> dict[str, int]: ...

@final
class Lockout:
    """Account lockout after failed logins, with django-axes' settings and semantics.

    A key per parameter group (default ``[["username"], ["ip_address"]]``), ``failure_limit``
    failures (default 10) lock it for ``cooloff`` (seconds, timedelta or ``"30m"``; default one
    hour); failures expire a cool-off after the last one. ``record_failure`` is one atomic round
    trip; ``check`` only reads; ``record_success`` resets the username groups only; ``login`` is the
    whole flow with uniform answers. ``outage_policy``: ``"local"`` (default), ``"fail_closed"``,
    ``"fail_open"``.
    """

    def __new__(
        cls,
        store: Store | None = None,
        *,
        failure_limit: int = 10,
        cooloff: float | timedelta | str | None = 3600,
        parameters: Sequence[str | Sequence[str]] | None = None,
        reset_on_success: bool = True,
        progressive: bool | Mapping[str, float | timedelta | str] | None = None,
        max_failures: int = 1000,
        extend_on_failure: bool = True,
        outage_policy: str = "local",
        name: str = "login",
        clock: ManualClock | None = None,
        on_event: Callable[[dict[str, str]], object] | None = None,
    ) -> Lockout: ...
    def check(
        self, username: str | None = None, ip_address: str | None = None, user_agent: str | None = None
    ) -> LockoutState:
        """The attempt's state, without counting anything."""
    def acheck(
        self, username: str | None = None, ip_address: str | None = None, user_agent: str | None = None
    ) -> Awaitable[LockoutState]:
        """Awaitable :meth:`check`."""
    def record_failure(
        self, username: str | None = None, ip_address: str | None = None, user_agent: str | None = None
    ) -> LockoutState:
        """Counts one failure against every key of the attempt, atomically; returns the new state."""
    def arecord_failure(
        self, username: str | None = None, ip_address: str | None = None, user_agent: str | None = None
    ) -> Awaitable[LockoutState]:
        """Awaitable :meth:`record_failure`."""
    def record_success(
        self, username: str | None = None, ip_address: str | None = None, user_agent: str | None = None
    ) -> None:
        """Resets the keys of the groups containing ``username`` (the IP address's count stays)."""
    def arecord_success(
        self, username: str | None = None, ip_address: str | None = None, user_agent: str | None = None
    ) -> Awaitable[None]:
        """Awaitable :meth:`record_success`."""
    def unlock(self, username: str | None = None, ip_address: str | None = None) -> int:
        """Removes the keys that apply to a username, an IP address, or that user at that address."""
    def aunlock(self, username: str | None = None, ip_address: str | None = None) -> Awaitable[int]:
        """Awaitable :meth:`unlock`."""
    def locked(self, limit: int = 1000) -> list[dict[str, Any]]:
        """The locks in force, soonest to end first."""
    def alocked(self, limit: int = 1000) -> Awaitable[list[dict[str, Any]]]:
        """Awaitable :meth:`locked`."""
    def login(
        self,
        username: str | None,
        password: str | bytes,
        stored_hash: str | None,
        *,
        ip_address: str | None = None,
        user_agent: str | None = None,
        hasher: PasswordHasher | Any | str | None = None,
    ) -> bool:
        """One login with uniform answers; raises ``AccountLockedError`` when locked."""
    def alogin(
        self,
        username: str | None,
        password: str | bytes,
        stored_hash: str | None,
        *,
        ip_address: str | None = None,
        user_agent: str | None = None,
        hasher: PasswordHasher | Any | str | None = None,
    ) -> Awaitable[bool]:
        """Awaitable :meth:`login`."""
    @property
    def name(self) -> str:
        """The lockout's name."""
    @property
    def failure_limit(self) -> int:
        """Failures that lock a key."""
    @property
    def cooloff(self) -> float:
        """The cool-off, in seconds."""
    @property
    def parameters(self) -> list[list[str]]:
        """The parameter groups, in canonical order."""

# ---- metrics and events ----------------------------------------------------------------

def metrics() -> str:
    """Every metric in the Prometheus text format (version 0.0.4)."""

def health() -> dict[str, Any]:
    """The readiness snapshot: ``ok``, ``stores`` (each store the application made, pinged; not the
    in-process fallback stores of Redis-backed components) and ``breakers`` (their states)."""

def ahealth() -> Awaitable[dict[str, Any]]:
    """Awaitable :func:`health`."""

def add_event_listener(callback: Callable[[dict[str, str]], object], min_severity: str = "info") -> None:
    """Calls ``callback(event)`` for every security event of at least ``min_severity``."""

# ---- netaddr -------------------------------------------------------------------------

def client_ip(
    peer: str,
    headers: Mapping[Any, Any] | Iterable[tuple[str | bytes, str | bytes]],
    *,
    trusted_proxies: int | str | Sequence[str] | None = None,
    header: str = "X-Forwarded-For",
    ipv6_prefix: int | None = None,
) -> str:
    """The client address of a request behind trusted proxies.

    ``peer`` is the TCP peer (``REMOTE_ADDR``); ``headers`` a mapping (a dict,
    ``request.META``, Starlette ``Headers``) or (name, value) pairs, repeated
    names allowed. ``header`` (X-Forwarded-For, Forwarded or X-Real-IP) is
    read only when the peer is one of ``trusted_proxies`` (addresses, CIDR
    ranges, ``"loopback"``, ``"private"``, ``"linklocal"``, or a hop count),
    walking from the right and returning the first untrusted address; a
    malformed entry stops the walk at the proxy that forwarded it. Raises
    ``InvalidArgumentError`` for a bad peer, range, header or ``ipv6_prefix``.
    """

def client_key(
    peer: str,
    headers: Mapping[Any, Any] | Iterable[tuple[str | bytes, str | bytes]],
    *,
    trusted_proxies: int | str | Sequence[str] | None = None,
    header: str = "X-Forwarded-For",
    ipv6_prefix: int | None = None,
) -> str:
    """:func:`client_ip` as a rate-limit key: IPv6 grouped by ``ipv6_prefix`` (``"2001:db8:1:2::/64"``)."""

# ---- secrets -------------------------------------------------------------------------

# ---- HTTP rules (core http) ----------------------------------------------------------------------

@final
class HttpAnswer:
    """A ready HTTP answer (``application/problem+json``)."""

    @property
    def status(self) -> int:
        """The HTTP status."""
    @property
    def headers(self) -> dict[str, str]:
        """The headers, in order, ``Content-Type`` last (a new dict on each access)."""
    @property
    def body(self) -> bytes:
        """The problem+json body."""
    @property
    def code(self) -> str:
        """The stable error code (``RATE_LIMITED``, ``TOKEN_EXPIRED`` ...)."""
    @property
    def detail(self) -> str:
        """The detail: the kind of failure, never a token or a claim."""

def http_methods(spec: str | Sequence[str]) -> list[str] | None:
    """The methods a rule covers: ``"read"`` (GET, HEAD, OPTIONS), ``"write"`` (POST, PUT, PATCH,
    DELETE), ``"any"`` / ``"all"`` (None: every method) or a list of methods (upper-cased, sorted,
    distinct). Raises ``InvalidArgumentError`` for anything else."""

@final
class RequestKey:
    """How a request's rate-limit key is composed: each part names ``"ip"``, ``"user"`` (the user,
    else ``anon:`` and the client), ``"route"``, ``"global"``, or is None for a value the
    application computes. Each part becomes its prefix and its text (over 256 bytes, holding ``|``
    or starting with ``sha256:``: ``sha256:<hex>``), joined with ``|``: the same bytes as Node's."""

    def __new__(cls, parts: Sequence[str | None]) -> RequestKey: ...
    def key(
        self,
        client: str,
        user: str | None = None,
        method: str = "",
        route: str = "",
        values: Sequence[str] = ...,
    ) -> str:
        """The key of one request: ``client`` (its client key), ``user`` (the authenticated user's
        id, if any), ``method``, ``route`` (the route template, else the path) and ``values`` (one
        per None part, in order)."""
    @property
    def parts(self) -> list[str | None]:
        """The parts' names (None for a value part)."""

def http_problem(
    status: int,
    detail: str,
    code: str,
    *,
    retry_after: float | None = None,
    headers: Mapping[str, str] | None = None,
    extra: str | None = None,
) -> HttpAnswer:
    """An ``application/problem+json`` answer (RFC 9457): ``type`` ``about:blank``, ``title`` (the
    RFC 9110 reason phrase), ``status``, ``detail``, ``code`` and ``retry_after`` (whole seconds,
    rounded up, at least 1; also ``Retry-After``) when given, then the members of ``extra`` (the
    text of a JSON object). Headers are checked: no CR, LF or NUL."""

def http_authorization_token(header: str, schemes: Sequence[str]) -> str | None:
    """The token of an ``Authorization`` header whose scheme is one of ``schemes`` (compared
    case-insensitively); None for credentials of another scheme. Raises ``DecodeError``
    (``MALFORMED_TOKEN``) for an empty header or a scheme of ``schemes`` without exactly one token
    after it."""

def http_holds_role(held: object, roles: Sequence[str]) -> bool:
    """Whether the claim value ``held`` holds one of ``roles``: a list (its str items) or a string
    of roles separated by whitespace (the ``scope`` form); anything else holds none."""

def http_unauthorized(detail: str, code: str, error: str | None = "invalid_token") -> HttpAnswer:
    """401 with ``WWW-Authenticate: Bearer``; with ``error`` and ``error_description`` when a token
    was sent, ``error=None`` when none was (RFC 6750)."""

def http_answer_for(
    code: str, retry_after: float | None = None, lockout_status: int = 429
) -> HttpAnswer | None:
    """The answer to a bastion error by its ``code`` (None for a server-side failure): 401 for
    token and API-key failures, 403 for a refused permission, ``lockout_status`` (429, 423, 403...)
    for a lockout, 429 for a rate limit, 503 for an open circuit or an unreachable store or
    identity provider. ``retry_after`` is the error's delay (1 s when None)."""

def validate_secret(secret: str | bytes, purpose: str = "HS256") -> None:
    """Raises ``WeakSecretError`` unless ``secret`` is fit for ``purpose``.

    Purposes: "HS256", "HS384", "HS512" (at least 32 / 48 / 64 bytes), "django"
    (``SECRET_KEY``: at least 50 characters, no ``django-insecure-`` prefix), "pepper"
    (at least 32 bytes), "generic" (at least 32 bytes). Every purpose also refuses key
    material, placeholders and example values, fewer than 8 distinct characters and an
    estimated entropy below 128 bits. ``InvalidArgumentError`` for an unknown purpose.
    """

def check_signing_key_separate(
    signing_key: str | bytes, secret_key: str | bytes, *, production: bool
) -> bool:
    """True when the keys differ (constant-time comparison); when equal,
    ``WeakSecretError`` in production, else False so the caller can warn."""

# ---- API keys ------------------------------------------------------------------------

@final
class ApiKeyHasher:
    """Makes API keys and their digests; verifies keys against stored digests.

    ``pepper`` (at least 32 random-looking bytes) keys new digests as ``version``;
    ``previous`` maps older versions to their peppers so digests made before a rotation
    still verify. Peppers are never shown by ``repr``.
    """

    def __new__(
        cls,
        pepper: str | bytes,
        *,
        version: int = 1,
        previous: dict[int, str | bytes] | None = None,
    ) -> ApiKeyHasher: ...
    def generate(self, prefix: str = "bst") -> IssuedApiKey:
        """A new key: the plaintext to show once, its id and the digest to store."""
    def verify(self, key: str | bytes, digest: str) -> bool:
        """True when ``key`` matches ``digest`` (constant time); raises for malformed input."""
    def hash(self, key: str | bytes) -> str:
        """The digest of ``key`` with the current pepper (to re-store after a rotation)."""
    def needs_rehash(self, digest: str) -> bool:
        """True when ``digest`` was made with another pepper than the current one."""
    @property
    def version(self) -> int:
        """The version of the current pepper."""
    @property
    def previous_versions(self) -> list[int]:
        """The versions of the older peppers."""

@final
class IssuedApiKey:
    """A key just made: ``key`` is shown once; ``id`` and ``digest`` are stored."""

    @property
    def key(self) -> str:
        """The plaintext key, ``<prefix>_<id>_<secret+checksum>``."""
    @property
    def id(self) -> str:
        """The public id (17 base62 characters)."""
    @property
    def prefix(self) -> str:
        """The prefix."""
    @property
    def digest(self) -> str:
        """``v<pepper version>$<HMAC-SHA256, base64url>``."""

def api_key_id(key: str | bytes, prefix: str | None = None) -> str:
    """The public id of a presented key after the offline checks (``InvalidApiKeyError``)."""

@final
class ApiKeyRecord:
    """What the registry keeps about one key (never the key itself)."""

    @property
    def id(self) -> str:
        """The public id (17 base62 characters)."""
    @property
    def prefix(self) -> str:
        """The key's prefix."""
    @property
    def owner(self) -> str:
        """Who owns the key."""
    @property
    def name(self) -> str:
        """The key's name."""
    @property
    def rate_limit(self) -> tuple[int, int] | None:
        """``(requests, window_seconds)``, or None."""
    @property
    def created_at(self) -> int:
        """When the key was created (seconds since the epoch, the store's time)."""
    @property
    def expires_at(self) -> int | None:
        """When the key expires (seconds since the epoch), or None."""
    @property
    def revoked_at(self) -> int | None:
        """When the key was revoked (seconds since the epoch), or None."""
    @property
    def revoked(self) -> bool:
        """True once revoked."""
    @property
    def pepper_version(self) -> int:
        """The version of the pepper its stored digest was made with."""

@final
class CreatedApiKey:
    """A key just created: ``key`` is shown once (never stored); ``record`` is what is kept."""

    @property
    def key(self) -> str:
        """The plaintext key, ``<prefix>_<id>_<secret+checksum>``."""
    @property
    def id(self) -> str:
        """The public id."""
    @property
    def record(self) -> ApiKeyRecord:
        """The record stored for the key."""

@final
class ApiKeys:
    """The store-backed API key registry: create (shown once), verify in one round trip, list, revoke.

    Keys carry a rate limit (``(requests, window_seconds)``, default 1000 per hour) and an optional
    expiry. Verify checks the key offline first, then reads its record once and compares digests in
    constant time; revocation and expiry are checked at the store's time. Revoked and expired
    records are kept ``retention`` seconds, then deleted. ``verify_policy``: ``"fail_closed"``
    (default) or ``"local"`` (keys this process verified within ``local_grace`` seconds pass during
    an outage). ``store`` defaults to a memory store driven by ``clock``.
    """

    def __new__(
        cls,
        hasher: ApiKeyHasher,
        *,
        store: Store | None = None,
        prefix: str = "bst",
        default_rate_limit: tuple[int, int] | None = (1000, 3600),
        retention: int = 2_592_000,
        max_keys_per_owner: int = 100,
        verify_policy: str = "fail_closed",
        local_grace: int = 300,
        rehash_on_verify: bool = True,
        clock: ManualClock | None = None,
    ) -> ApiKeys: ...
    def create(
        self,
        owner: str | int,
        name: str = "",
        *,
        rate_limit: tuple[int, int] | None = None,
        ttl: int | None = None,
        expires_at: int | None = None,
    ) -> CreatedApiKey:
        """Creates a key for ``owner``; returns the key (shown once) and its record."""
    def acreate(
        self,
        owner: str | int,
        name: str = "",
        *,
        rate_limit: tuple[int, int] | None = None,
        ttl: int | None = None,
        expires_at: int | None = None,
    ) -> Awaitable[CreatedApiKey]:
        """Awaitable :meth:`create`."""
    def verify(self, key: str | bytes) -> ApiKeyRecord:
        """Verifies a presented key (offline checks, then one round trip); returns its record."""
    def averify(self, key: str | bytes) -> Awaitable[ApiKeyRecord]:
        """Awaitable :meth:`verify`."""
    def revoke(self, id: str, *, by: str | int | None = None, admin: bool = False) -> bool:
        """Revokes a key by id (its owner ``by``, or ``admin``); returns whether it exists."""
    def arevoke(self, id: str, *, by: str | int | None = None, admin: bool = False) -> Awaitable[bool]:
        """Awaitable :meth:`revoke`."""
    def revoke_all(self, owner: str | int) -> int:
        """Revokes every key of ``owner``; returns how many it revoked."""
    def arevoke_all(self, owner: str | int) -> Awaitable[int]:
        """Awaitable :meth:`revoke_all`."""
    def list(self, owner: str | int) -> builtins.list[ApiKeyRecord]:
        """The records of ``owner``'s keys, oldest first."""
    def alist(self, owner: str | int) -> Awaitable[builtins.list[ApiKeyRecord]]:
        """Awaitable :meth:`list`."""

# ---- tokens --------------------------------------------------------------------------

@final
class Key:
    """A signing or verification key bound to one family when made."""

    @staticmethod
    def hmac(secret: str | bytes) -> Key:
        """An HMAC key from a shared secret; key material in any form is refused."""
    @staticmethod
    def from_pem(pem: str | bytes) -> Key:
        """A key from PEM text (public key, certificate, PKCS#8, PKCS#1, SEC1)."""
    @staticmethod
    def from_der(der: bytes) -> Key:
        """A key from DER bytes in any form ``from_pem`` accepts."""
    @staticmethod
    def from_jwk(jwk: str | bytes | Mapping[str, Any], algorithm: str | None = None) -> Key:
        """A key from a JWK (JSON text or dict), optionally restricted to ``algorithm``."""
    @staticmethod
    def from_ssh(line: str | bytes) -> Key:
        """A public key from an OpenSSH ``authorized_keys`` line."""
    @staticmethod
    def from_material(material: str | bytes, algorithms: str | Iterable[str] | None = None) -> Key:
        """A key from undeclared material, restricted to the families of ``algorithms``."""
    @property
    def family(self) -> str:
        """ "HMAC", "RSA", "EC P-256", "EC P-384", "EC P-521", "EC secp256k1" or "Ed25519"."""
    @property
    def kid(self) -> str | None:
        """The key id."""
    @property
    def algorithm(self) -> str | None:
        """The one algorithm the key is restricted to, if any."""
    @property
    def can_sign(self) -> bool:
        """True for HMAC secrets and private keys."""
    @property
    def algorithms(self) -> list[str]:
        """Every algorithm the key may be used with."""
    def sign(self, algorithm: str, message: bytes, *, allow_weak: bool = False) -> bytes:
        """Raw signature of ``message`` (JWS form); RSA and ECDSA release the GIL."""
    def verify(self, algorithm: str, message: bytes, signature: bytes, *, allow_weak: bool = False) -> None:
        """Raises InvalidSignatureError unless ``signature`` verifies."""
    def public_jwk(self) -> dict[str, Any]:
        """The public part as a JWK dict (InvalidKeyError for HMAC keys)."""
    def with_kid(self, kid: str) -> Key:
        """The same key with key id ``kid``."""

@final
class Verifier:
    """A verifier built once: key, accepted algorithms and claim rules fixed.

    ``required`` defaults to ``("exp",)``; ``critical_extensions`` to ``()``. ``nonce``,
    when given, must equal the token's ``nonce`` claim (OpenID Connect). A configuration
    that can never verify (no algorithm, negative leeway) raises at construction.
    """

    def __new__(
        cls,
        key: Key | str | bytes,
        algorithms: str | Iterable[str],
        *,
        audience: str | Iterable[str] | None = None,
        issuer: str | Iterable[str] | None = None,
        subject: str | None = None,
        leeway: float = 0.0,
        required: Iterable[str] | None = None,
        typ: str | None = None,
        max_age: float | None = None,
        clock: ManualClock | None = None,
        max_token_size: int = 8192,
        critical_extensions: Iterable[str] | None = None,
        nonce: str | None = None,
    ) -> Verifier: ...
    def decode(self, token: str | bytes) -> dict[str, Any]:
        """Verifies ``token`` and returns its claims."""
    def decode_complete(self, token: str | bytes) -> dict[str, Any]:
        """Verifies ``token``; returns ``{"header", "payload", "signature"}``."""
    @property
    def algorithms(self) -> list[str]:
        """The accepted algorithms."""

def sign(
    claims: Mapping[str, Any],
    key: Key,
    algorithm: str,
    *,
    headers: Mapping[str, Any] | None = None,
    typ: str | None = "JWT",
    kid: str | None = None,
) -> str:
    """Signs ``claims`` with ``key``; RSA and ECDSA release the GIL."""

def supported_algorithms() -> list[str]:
    """Names of every algorithm bastion implements."""

def set_verified_token_cache_size(size: int) -> int:
    """Sets how many verified tokens are remembered (default 4096; 0 turns the cache off).

    A token presented again with the same key skips decoding and the signature check;
    every configuration- and time-dependent rule still runs. Returns the previous size.
    """

def jwt_encode(
    payload: Mapping[str, Any],
    key: Key | str | bytes,
    algorithm: str | None = "HS256",
    headers: Mapping[str, Any] | None = None,
    json_encoder: type[Any] | None = None,
    sort_headers: bool = True,
    allow_weak_keys: bool = False,
) -> str:
    """PyJWT's ``encode``."""

def jwt_decode_complete(
    jwt: str | bytes,
    key: Key | str | bytes | None = None,
    algorithms: str | Sequence[str] | None = None,
    options: Mapping[str, Any] | None = None,
    detached_payload: bytes | None = None,
    audience: str | Iterable[str] | None = None,
    issuer: str | Iterable[str] | None = None,
    subject: str | None = None,
    leeway: float | timedelta | None = None,
    clock: ManualClock | None = None,
    max_token_size: int = 8192,
) -> dict[str, Any]:
    """PyJWT's ``decode_complete``."""

def jwt_decode(
    jwt: str | bytes,
    key: Key | str | bytes | None = None,
    algorithms: str | Sequence[str] | None = None,
    options: Mapping[str, Any] | None = None,
    detached_payload: bytes | None = None,
    audience: str | Iterable[str] | None = None,
    issuer: str | Iterable[str] | None = None,
    subject: str | None = None,
    leeway: float | timedelta | None = None,
    clock: ManualClock | None = None,
    max_token_size: int = 8192,
) -> dict[str, Any]:
    """PyJWT's ``decode``."""

def verify_jws(
    token: str | bytes,
    key: Key | str | bytes,
    algorithms: str | Iterable[str],
    *,
    typ: str | None = None,
    critical_extensions: Iterable[str] | None = None,
    max_token_size: int = 8192,
    allow_weak_keys: bool = False,
) -> dict[str, Any]:
    """Verifies a compact JWS; returns ``{"header": dict, "payload": bytes, "algorithm": str}``."""

def jwt_get_unverified_header(jwt: str | bytes) -> dict[str, Any]:
    """The header, parsed strictly but NOT verified."""

# ---- JWK Sets ------------------------------------------------------------------------

@final
class KeySet:
    """A JWK Set (``{"keys": [...]}``) parsed once, strictly and bounded.

    Keys that cannot verify signatures (``use`` other than ``sig``, ``key_ops`` without
    ``verify``, unsupported types, invalid or weak material, a later duplicate ``kid``) are
    skipped and listed in ``skipped``. A set with no usable key raises ``PyJWKSetError``.
    """

    def __new__(
        cls, jwks: str | bytes | Mapping[str, Any], *, max_size: int = 262_144, max_keys: int = 100
    ) -> KeySet: ...
    def get_signing_key(self, kid: str | None = None, algorithm: str | None = None) -> Key:
        """The first key for ``kid`` that can verify ``algorithm``; without ``kid``, the only one
        that fits. ``KeyNotFoundError`` otherwise."""
    def decode(
        self,
        token: str | bytes,
        algorithms: str | Iterable[str],
        *,
        audience: str | Iterable[str] | None = None,
        issuer: str | Iterable[str] | None = None,
        subject: str | None = None,
        leeway: float = 0.0,
        required: Iterable[str] | None = None,
        typ: str | None = None,
        max_age: float | None = None,
        clock: ManualClock | None = None,
        max_token_size: int = 8192,
        critical_extensions: Iterable[str] | None = None,
        nonce: str | None = None,
    ) -> dict[str, Any]:
        """Verifies ``token`` with the key its header names (``kid``, ``alg``; never ``jwk``,
        ``jku``, ``x5u``, ``x5c``) and returns its claims."""
    @property
    def keys(self) -> list[Key]:
        """The usable keys, in document order."""
    @property
    def skipped(self) -> list[dict[str, Any]]:
        """``{"index": int, "kid": str | None, "reason": str}`` for each skipped key."""
    def __len__(self) -> int: ...

@final
class JwksClient:
    """Fetches a JWK Set over HTTPS and keeps it cached.

    ``https`` only unless ``allow_http``; certificates always verified (Mozilla roots plus
    ``ca_pem``); no redirects. Fresh for ``lifespan`` s; an unknown ``kid`` refetches at most
    once per ``cooldown`` s; concurrent misses share one fetch; a fetch is bounded by
    ``timeout`` s and ``max_size`` bytes; the last good set is served up to ``max_stale`` s past
    its lifespan while refreshes fail. Sync methods release the GIL; ``a``-prefixed twins are
    asyncio awaitables.
    """

    def __new__(
        cls,
        url: str,
        *,
        lifespan: float = 300.0,
        cooldown: float = 30.0,
        timeout: float = 5.0,
        max_size: int = 262_144,
        max_keys: int = 100,
        max_stale: float = 3600.0,
        allow_http: bool = False,
        ca_pem: str | bytes | None = None,
        headers: Mapping[str, str] | None = None,
        clock: ManualClock | None = None,
    ) -> JwksClient: ...
    @property
    def url(self) -> str:
        """The URL, without its query."""
    def get_signing_key(self, kid: str | None, algorithm: str | None = None) -> Key:
        """The key for ``kid`` (fitting ``algorithm``), from the cache or after a fetch."""
    def aget_signing_key(self, kid: str | None, algorithm: str | None = None) -> Awaitable[Key]:
        """``get_signing_key`` as an asyncio awaitable."""
    def decode(
        self,
        token: str | bytes,
        algorithms: str | Iterable[str],
        *,
        audience: str | Iterable[str] | None = None,
        issuer: str | Iterable[str] | None = None,
        subject: str | None = None,
        leeway: float = 0.0,
        required: Iterable[str] | None = None,
        typ: str | None = None,
        max_age: float | None = None,
        max_token_size: int = 8192,
        critical_extensions: Iterable[str] | None = None,
        nonce: str | None = None,
    ) -> dict[str, Any]:
        """Verifies ``token`` with the key its header names and returns its claims."""
    def adecode(
        self,
        token: str | bytes,
        algorithms: str | Iterable[str],
        *,
        audience: str | Iterable[str] | None = None,
        issuer: str | Iterable[str] | None = None,
        subject: str | None = None,
        leeway: float = 0.0,
        required: Iterable[str] | None = None,
        typ: str | None = None,
        max_age: float | None = None,
        max_token_size: int = 8192,
        critical_extensions: Iterable[str] | None = None,
        nonce: str | None = None,
    ) -> Awaitable[dict[str, Any]]:
        """``decode`` as an asyncio awaitable."""
    def key_set(self) -> KeySet:
        """The current set (fetched when there is none or it expired)."""
    def akey_set(self) -> Awaitable[KeySet]:
        """``key_set`` as an asyncio awaitable."""
    def refresh(self) -> KeySet:
        """Fetches now, ignoring freshness and cooldown; raises the fetch's own error."""
    def arefresh(self) -> Awaitable[KeySet]:
        """``refresh`` as an asyncio awaitable."""
    def status(self) -> dict[str, Any]:
        """``keys``, ``fetched_at``, ``expires_at``, ``stale``, ``fetching``, ``last_error``,
        ``last_error_code``, ``fetches``, ``failures``."""

# ---- passwords -----------------------------------------------------------------------

@final
class PasswordHasher:
    """Hashes with one scheme and format; verifies every supported format."""

    def __new__(
        cls,
        algorithm: str = "argon2id",
        format: str | None = None,
        *,
        time_cost: int | None = None,
        memory_cost: int | None = None,
        parallelism: int | None = None,
        hash_len: int | None = None,
        salt_len: int | None = None,
        version: int | None = None,
        iterations: int | None = None,
        rounds: int | None = None,
    ) -> PasswordHasher: ...
    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        """Hashes ``password``; releases the GIL."""
    def verify(self, encoded: str | bytes, password: str | bytes) -> bool:
        """True on a match, False otherwise; releases the GIL."""
    def needs_rehash(self, encoded: str | bytes) -> bool:
        """True when ``encoded`` should be replaced by a fresh hash from this hasher."""
    @property
    def algorithm(self) -> str:
        """The algorithm name ``identify_hash`` reports for this hasher's output."""
    @property
    def format(self) -> str:
        """ "phc" or "django"."""
    @property
    def params(self) -> dict[str, Any]:
        """The cost parameters new hashes use."""

def verify_password(encoded: str | bytes, password: str | bytes) -> bool:
    """True when ``password`` matches ``encoded`` in any supported format; releases the GIL."""

def identify_hash(encoded: str | bytes) -> dict[str, Any]:
    """``{"algorithm", "format", "params"}`` of a stored hash (never its salt or hash)."""

def argon2_hash_raw(
    password: str | bytes,
    salt: bytes,
    *,
    variant: str = "argon2id",
    version: int = 19,
    time_cost: int = 3,
    memory_cost: int = 65536,
    parallelism: int = 4,
    hash_len: int = 32,
    secret: bytes | None = None,
    associated_data: bytes | None = None,
) -> bytes:
    """Raw Argon2 tag with optional secret (K) and associated data (X); releases the GIL."""

def set_memory_budget_kib(budget_kib: int) -> int:
    """Sets the process-wide Argon2 memory budget in KiB (default 1 GiB); returns the previous one.

    Every Argon2 hash or verify holds its ``memory_cost`` KiB of it while it runs; callers beyond the
    budget wait their turn, and a single hash larger than the whole budget is refused.
    """

def memory_budget() -> tuple[int, int]:
    """``(budget_kib, in_use_kib)``: the Argon2 memory budget and what running hashes hold now."""

# ---- store ---------------------------------------------------------------------------

@final
class Store:
    """Where stateful components keep their state: memory (default) or Redis / Redis Cluster.

    ``Store()`` / ``Store("memory://")``: this process's memory. ``Store("redis://host:6379/0")``:
    one Redis server; ``Store("redis+cluster://h1:7000,h2:7001")``: a Redis Cluster. Each decision
    is one atomic round trip bounded by ``timeout`` seconds; when Redis cannot answer in time a call
    raises ``StoreUnavailableError`` and the component applies its outage policy.
    """

    def __new__(
        cls,
        url: str | None = None,
        *,
        timeout: float = 0.05,
        connect_timeout: float = 2.0,
        prefix: str = "bastion:",
        max_keys: int = 1_000_000,
        clock: ManualClock | None = None,
    ) -> Store: ...
    @property
    def kind(self) -> str:
        """``"memory"``, ``"redis"`` or ``"redis-cluster"``."""
    @property
    def timeout(self) -> float:
        """The bound on one Redis operation, in seconds (0 for memory)."""
    def ping(self) -> float:
        """One round trip (``PING``); its duration in seconds (0 for memory)."""
    def aping(self) -> Awaitable[float]:
        """Awaitable :meth:`ping`."""

# ---- token lifecycle -----------------------------------------------------------------

@final
class TokenPair:
    """An access token and a refresh token issued together (``repr`` never shows the tokens)."""

    @property
    def access(self) -> str: ...
    @property
    def refresh(self) -> str: ...
    @property
    def access_expires_at(self) -> int: ...
    @property
    def refresh_expires_at(self) -> int: ...
    @property
    def family(self) -> str: ...
    @property
    def subject(self) -> str: ...

@final
class TokenService:
    """Issues, rotates, verifies and revokes tokens, keeping their state in a :class:`Store`."""

    def __new__(
        cls,
        key: Key,
        *,
        store: Store | None = None,
        algorithm: str = "HS256",
        access_lifetime: int = 1800,
        refresh_lifetime: int = 604800,
        issuer: str | None = None,
        audience: str | None = None,
        leeway: float = 0.0,
        rotation_grace: float = 0.0,
        subject_claim: str = "sub",
        type_claim: str = "token_type",
        family_claim: str = "fam",
        revocation_policy: str = "fail_closed",
        max_token_lifetime: int | None = None,
        verify_keys: Sequence[Key] | None = None,
        revocation_cache_ttl: float = 0.0,
        clock: ManualClock | None = None,
        on_event: Callable[[dict[str, str]], object] | None = None,
    ) -> TokenService: ...
    def issue_pair(self, subject: str | int, claims: Mapping[str, Any] | None = None) -> TokenPair:
        """Issues a new pair for ``subject``, starting a new family."""
    def aissue_pair(
        self, subject: str | int, claims: Mapping[str, Any] | None = None
    ) -> Awaitable[TokenPair]:
        """Awaitable :meth:`issue_pair`."""
    def rotate(self, refresh: str | bytes) -> TokenPair:
        """Rotates a refresh token into a new pair of the same family (exactly once)."""
    def arotate(self, refresh: str | bytes) -> Awaitable[TokenPair]:
        """Awaitable :meth:`rotate`."""
    def verify(self, token: str | bytes, kind: str = "access") -> dict[str, Any]:
        """Verifies a token and checks it is not revoked, in one call; returns its claims."""
    def averify(self, token: str | bytes, kind: str = "access") -> Awaitable[dict[str, Any]]:
        """Awaitable :meth:`verify`."""
    def revoke(self, token: str | bytes, *, by: str | int | None = None, admin: bool = False) -> None:
        """Revokes one token until its ``exp`` (a refresh token takes its family along)."""
    def arevoke(
        self, token: str | bytes, *, by: str | int | None = None, admin: bool = False
    ) -> Awaitable[None]:
        """Awaitable :meth:`revoke`."""
    def revoke_all(self, subject: str | int) -> None:
        """Revokes everything ``subject`` holds (logout everywhere, password change)."""
    def arevoke_all(self, subject: str | int) -> Awaitable[None]:
        """Awaitable :meth:`revoke_all`."""
    def revoke_family(self, subject: str | int, family: str) -> bool:
        """Revokes one family of ``subject``; returns whether it existed."""
    def arevoke_family(self, subject: str | int, family: str) -> Awaitable[bool]:
        """Awaitable :meth:`revoke_family`."""

# ---- rate limiting --------------------------------------------------------------

@final
class LimitStatus:
    """What one limit of a limiter said about a request."""

    @property
    def rate(self) -> str:
        """The limit, canonical (``"5/15m"``)."""
    @property
    def allowed(self) -> bool:
        """Whether this limit alone would admit the request."""
    @property
    def limit(self) -> int:
        """The limit's count."""
    @property
    def window(self) -> float:
        """The limit's window in seconds."""
    @property
    def remaining(self) -> int:
        """Units left in this limit."""
    @property
    def reset_after(self) -> float:
        """Seconds until this limit is back to full capacity."""
    @property
    def retry_after(self) -> float:
        """Seconds until this limit would admit the request (0 when it does)."""

@final
class Decision:
    """The answer to a rate-limit check; true when the request is admitted."""

    @property
    def allowed(self) -> bool:
        """Whether the request is admitted (every limit admitted and was charged)."""
    @property
    def limit(self) -> int:
        """The binding limit's count."""
    @property
    def remaining(self) -> int:
        """Units left in the binding limit."""
    @property
    def reset_after(self) -> float:
        """Seconds until the binding limit is back to full capacity."""
    @property
    def retry_after(self) -> float:
        """Seconds until the request could be admitted (0 when it is)."""
    @property
    def denied_by(self) -> int | None:
        """The index of the limit that denied, or None."""
    @property
    def rate(self) -> str:
        """The binding limit, canonical."""
    @property
    def limits(self) -> list[LimitStatus]:
        """Every limit's own answer, in the limiter's order."""
    @property
    def fallback(self) -> str | None:
        """The outage policy that decided when the store could not answer, else None."""
    @property
    def policy(self) -> str:
        """The limiter's name (the ``RateLimit`` policy name)."""
    @property
    def decided_at(self) -> float:
        """When the decision was made, seconds since the epoch."""
    def retry_after_header(self) -> int | None:
        """``Retry-After`` in whole seconds (at least 1) when denied, else None."""
    def headers(self) -> dict[str, str]:
        """The rate-limit response headers for this decision."""
    def problem(self) -> HttpAnswer:
        """The 429 answer to this denied decision: the rate-limit headers, ``Retry-After`` and a
        problem+json body naming the violated policy (the same bytes as Node's). Raises
        ``InvalidArgumentError`` for an admitted decision."""
    def __bool__(self) -> bool: ...

@final
class RateLimiter:
    """One or more limits per client key, decided all or nothing in one store decision."""

    def __new__(
        cls,
        rates: str | Sequence[str],
        *,
        store: Store | None = None,
        name: str = "default",
        algorithm: str = "sliding_window",
        outage_policy: str = "local",
        local_rates: str | Sequence[str] | None = None,
        on_event: Callable[[dict[str, str]], object] | None = None,
    ) -> RateLimiter: ...
    @property
    def rates(self) -> list[str]:
        """The limits, canonical, in order."""
    @property
    def name(self) -> str:
        """The limiter's name."""
    @property
    def algorithm(self) -> str:
        """The algorithm's name."""
    @property
    def outage_policy(self) -> str:
        """The outage policy's name."""
    def check(self, key: str, cost: int = 1) -> Decision:
        """Checks ``cost`` units for ``key``, charging them when every limit admits."""
    def acheck(self, key: str, cost: int = 1) -> Awaitable[Decision]:
        """Awaitable :meth:`check`."""
    def hit(self, key: str, cost: int = 1) -> Decision:
        """Like :meth:`check`, but raises ``RateLimitExceeded`` when denied."""
    def ahit(self, key: str, cost: int = 1) -> Awaitable[Decision]:
        """Awaitable :meth:`hit`."""
    def peek(self, key: str, cost: int = 1) -> Decision:
        """Whether ``cost`` units would be admitted now, charging nothing."""
    def apeek(self, key: str, cost: int = 1) -> Awaitable[Decision]:
        """Awaitable :meth:`peek`."""
    def refund(self, key: str, cost: int = 1) -> None:
        """Gives back up to ``cost`` units to every limit of ``key``."""
    def arefund(self, key: str, cost: int = 1) -> Awaitable[None]:
        """Awaitable :meth:`refund`."""
    def reset(self, key: str) -> None:
        """Forgets everything about ``key``."""
    def areset(self, key: str) -> Awaitable[None]:
        """Awaitable :meth:`reset`."""
