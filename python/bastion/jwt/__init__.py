"""A PyJWT 2.x-compatible JSON Web Token API on bastion's native core.

``import bastion.jwt as jwt`` works in code written for PyJWT 2.x: ``encode``,
``decode``, ``decode_complete``, ``get_unverified_header``, the ``PyJWT`` class,
``PyJWK`` / ``PyJWKSet``, ``PyJWKClient`` and PyJWT's exception names and
hierarchy. Parsing,
verification and claim checks run in Rust; keys given as ``str`` / ``bytes``
are parsed once and cached, ``cryptography`` key objects are converted once
and cached.

bastion is stricter than PyJWT where PyJWT is lenient: short HMAC keys are
refused unless ``options={"enforce_minimum_key_length": False}``, ``none`` is
never accepted, duplicate JSON members, padded base64 and tokens over
``max_token_size`` bytes (8 KiB) are refused, and registered claims must have
their JSON types. See the compatibility notes in the docs for the full list.
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any, cast

from bastion import _native
from bastion._native import JwksClient, Key, KeySet, ManualClock, Verifier, sign, supported_algorithms
from bastion.exceptions import InvalidArgumentError
from bastion.jwt.exceptions import (
    DecodeError,
    ExpiredSignatureError,
    ImmatureSignatureError,
    InvalidAlgorithmError,
    InvalidAudienceError,
    InvalidIssuedAtError,
    InvalidIssuerError,
    InvalidJTIError,
    InvalidKeyError,
    InvalidSignatureError,
    InvalidSubjectError,
    InvalidTokenError,
    InvalidTokenTypeError,
    MissingRequiredClaimError,
    PyJWKClientConnectionError,
    PyJWKClientError,
    PyJWKError,
    PyJWKSetError,
    PyJWTError,
)

__all__ = [
    "DecodeError",
    "ExpiredSignatureError",
    "ImmatureSignatureError",
    "InvalidAlgorithmError",
    "InvalidAudienceError",
    "InvalidIssuedAtError",
    "InvalidIssuerError",
    "InvalidJTIError",
    "InvalidKeyError",
    "InvalidSignatureError",
    "InvalidSubjectError",
    "InvalidTokenError",
    "InvalidTokenTypeError",
    "Key",
    "ManualClock",
    "MissingRequiredClaimError",
    "PyJWK",
    "PyJWKClient",
    "PyJWKClientConnectionError",
    "PyJWKClientError",
    "PyJWKError",
    "PyJWKSet",
    "PyJWKSetError",
    "PyJWT",
    "PyJWTError",
    "RemovedInPyjwt3Warning",
    "Verifier",
    "decode",
    "decode_complete",
    "encode",
    "get_unverified_header",
    "sign",
]

DEFAULT_MAX_TOKEN_SIZE = 8192
_SUPPORTED_ALGORITHMS = frozenset(supported_algorithms())
# The longest error message, in UTF-8 bytes (the core's bound): a message quoting a
# hostile input never carries it whole.
_MAX_MESSAGE = 512


def _bounded(message: str) -> str:
    """``message`` cut to at most ``_MAX_MESSAGE`` UTF-8 bytes (the cut marked with ``…``)."""
    data = message.encode("utf-8", "surrogatepass")
    if len(data) <= _MAX_MESSAGE:
        return message
    return data[: _MAX_MESSAGE - 3].decode("utf-8", "ignore") + "…"


def _json_object(data: object, what: str, error: type[PyJWTError]) -> Any:
    """JSON text parsed for a JWK or a JWK Set: ``TypeError`` for anything but text, ``ValueError``
    (``json.JSONDecodeError``, as PyJWT) for text that is not JSON, ``error`` for JSON nested too
    deeply to parse."""
    import json

    if not isinstance(data, str | bytes | bytearray):
        raise TypeError(f"{what} must be JSON text (str or bytes), not {type(data).__name__}")
    try:
        return json.loads(data)
    except RecursionError:
        raise error(f"{what} is nested too deeply") from None


class RemovedInPyjwt3Warning(DeprecationWarning):
    """An argument PyJWT 3 removes was passed (PyJWT's warning of the same name)."""


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


_ALGORITHM_UNSET: Any = _Unset()


# ---- keys ----------------------------------------------------------------------------


class PyJWK:
    """A JSON Web Key (PyJWT's ``PyJWK``).

    ``key`` is a :class:`bastion.Key` restricted to ``algorithm_name``: the
    ``algorithm`` argument, else the JWK's ``alg``, else the family's first
    algorithm (HS256, RS256, ES256/ES384/ES512/ES256K by curve, EdDSA).
    """

    __slots__ = ("_jwk_data", "algorithm_name", "key")

    def __init__(self, jwk_data: Mapping[str, Any], algorithm: str | None = None) -> None:
        if not isinstance(jwk_data, Mapping):
            raise InvalidKeyError("a JWK must be a JSON object")
        if algorithm is not None and not isinstance(algorithm, str):
            raise TypeError(f"algorithm must be a str or None, not {type(algorithm).__name__}")
        self._jwk_data: Mapping[str, Any] | None = jwk_data
        if not jwk_data.get("kty"):
            raise InvalidKeyError("kty is not found")
        if not algorithm:
            algorithm = jwk_data.get("alg") or None
        data = dict(jwk_data)
        try:
            key = Key.from_jwk(data)
            if algorithm is None:
                algorithm = key.algorithm or key.algorithms[0]
            if key.algorithm != algorithm:
                key = Key.from_jwk(data, algorithm)
        except InvalidAlgorithmError as e:
            raise PyJWKError(_bounded(f"Unable to find an algorithm for key: {e}")) from e
        self.algorithm_name: str = algorithm
        self.key: Key = key

    @classmethod
    def _from_native(cls, key: Key, algorithm: str | None = None) -> PyJWK:
        """Wraps a key of a native key set without parsing it again; its JWK
        data (the public part) is built when first read."""
        self = cls.__new__(cls)
        self._jwk_data = None
        if key.algorithm is not None:
            algorithm = key.algorithm
        elif algorithm is None or algorithm not in key.algorithms:
            algorithm = key.algorithms[0]
        self.algorithm_name = algorithm
        self.key = key
        return self

    def _data(self) -> Mapping[str, Any]:
        if self._jwk_data is None:
            self._jwk_data = self.key.public_jwk()
        return self._jwk_data

    @staticmethod
    def from_dict(obj: Mapping[str, Any], algorithm: str | None = None) -> PyJWK:
        """A ``PyJWK`` from a JWK dict."""
        return PyJWK(obj, algorithm)

    @staticmethod
    def from_json(data: str | bytes, algorithm: str | None = None) -> PyJWK:
        """A ``PyJWK`` from JWK JSON text."""
        return PyJWK.from_dict(_json_object(data, "a JWK", PyJWKError), algorithm)

    @property
    def key_type(self) -> str | None:
        """The JWK's ``kty``."""
        return cast("str | None", self._data().get("kty"))

    @property
    def key_id(self) -> str | None:
        """The JWK's ``kid``."""
        if self._jwk_data is None:
            return self.key.kid
        return cast("str | None", self._jwk_data.get("kid"))

    @property
    def public_key_use(self) -> str | None:
        """The JWK's ``use``."""
        return cast("str | None", self._data().get("use"))

    def __repr__(self) -> str:
        return f"<PyJWK algorithm={self.algorithm_name!r} kid={self.key_id!r}>"


class PyJWKSet:
    """A JWK Set (PyJWT's ``PyJWKSet``): unusable keys are skipped."""

    def __init__(self, keys: list[Mapping[str, Any]]) -> None:
        self.keys: list[PyJWK] = []
        if not keys:
            raise PyJWKSetError("The JWK Set did not contain any keys")
        if not isinstance(keys, list):
            raise PyJWKSetError("Invalid JWK Set value")
        for key in keys:
            if not isinstance(key, Mapping):
                continue
            try:
                self.keys.append(PyJWK(key))
            except PyJWTError:
                continue
        if not self.keys:
            raise PyJWKSetError("The JWK Set did not contain any usable keys")

    @classmethod
    def _from_native(cls, key_set: KeySet) -> PyJWKSet:
        """Wraps a native key set's keys (already parsed)."""
        self = cls.__new__(cls)
        self.keys = [PyJWK._from_native(k) for k in key_set.keys]
        return self

    @staticmethod
    def from_dict(obj: Mapping[str, Any]) -> PyJWKSet:
        """A set from ``{"keys": [...]}``."""
        if not isinstance(obj, Mapping):
            raise PyJWKSetError("Invalid JWK Set value: a JWK Set is a JSON object")
        return PyJWKSet(obj.get("keys", []))

    @staticmethod
    def from_json(data: str | bytes) -> PyJWKSet:
        """A set from JWK Set JSON text."""
        return PyJWKSet.from_dict(_json_object(data, "a JWK Set", PyJWKSetError))

    def __getitem__(self, kid: str) -> PyJWK:
        for key in self.keys:
            if key.key_id == kid:
                return key
        raise KeyError(f"keyset has no key for kid: {kid}")

    def __iter__(self) -> Iterator[PyJWK]:
        return iter(self.keys)

    def __len__(self) -> int:
        return len(self.keys)


class PyJWKClient:
    """PyJWT's ``PyJWKClient`` over bastion's native :class:`bastion.JwksClient`.

    The signature and methods are PyJWT 2.x's; the fetching and caching are the
    native client's: one fetch however many callers miss at once, a refetch on
    an unknown ``kid`` at most once per ``cooldown_duration``, the whole fetch
    bounded by ``timeout`` seconds and 256 KiB, the last good set served while
    refreshes fail (``max_stale`` seconds past ``lifespan``), redirects never
    followed, certificates always verified, and the GIL released while a fetch
    runs. Differences from PyJWT: ``https`` only unless ``allow_http=True``;
    ``ssl_context`` is not supported (trust extra CAs with ``ca_pem``);
    ``cache_keys`` / ``max_cached_keys`` are accepted but unnecessary (keys are
    parsed once per fetched set); ``fetch_data`` returns the public JWKs of the
    usable keys. ``aget_signing_key`` and ``aget_signing_key_from_jwt`` are
    asyncio twins; ``clock`` (a :class:`ManualClock`) is for tests.
    """

    def __init__(
        self,
        uri: str,
        cache_keys: bool = False,
        max_cached_keys: int = 16,
        cache_jwk_set: bool = True,
        lifespan: float = 300,
        headers: Mapping[str, Any] | None = None,
        timeout: float = 30,
        ssl_context: Any = None,
        cooldown_duration: float = 30,
        *,
        allow_http: bool = False,
        ca_pem: str | bytes | None = None,
        max_stale: float = 3600.0,
        clock: ManualClock | None = None,
    ) -> None:
        if ssl_context is not None:
            raise PyJWKClientError(
                "ssl_context is not supported: certificates are verified by bastion; "
                "pass extra trusted CA certificates as ca_pem="
            )
        for what, value in (
            ("lifespan", lifespan),
            ("timeout", timeout),
            ("cooldown_duration", cooldown_duration),
        ):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"{what} must be a number of seconds, not {type(value).__name__}")
        if cache_jwk_set and not lifespan > 0:
            raise PyJWKClientError(f'Lifespan must be greater than 0, the input is "{lifespan}"')
        if headers is not None and not isinstance(headers, Mapping):
            raise TypeError(
                f"headers must be a mapping of header names to values, not {type(headers).__name__}"
            )
        self.uri = uri
        self.headers: dict[str, Any] = dict(headers or {})
        for k, v in self.headers.items():
            if not isinstance(k, str) or not isinstance(v, str | int | float):
                raise TypeError("headers must map header names (str) to values (str or numbers)")
        self.timeout = timeout
        self.cooldown_duration = cooldown_duration
        try:
            self._client = JwksClient(
                uri,
                lifespan=float(lifespan) if cache_jwk_set else 0.0,
                cooldown=float(cooldown_duration) if cache_jwk_set else 0.0,
                timeout=float(timeout),
                max_stale=max_stale if cache_jwk_set else 0.0,
                allow_http=allow_http,
                ca_pem=ca_pem,
                headers={str(k): str(v) for k, v in self.headers.items()},
                clock=clock,
            )
        except InvalidArgumentError as e:
            raise PyJWKClientError(str(e)) from e

    @property
    def client(self) -> JwksClient:
        """The native client (``status()``, ``decode``, ``adecode`` ...)."""
        return self._client

    def fetch_data(self) -> dict[str, Any]:
        """Fetches the set now and returns ``{"keys": [...]}`` (the public JWKs of its usable keys)."""
        return {"keys": [k.public_jwk() for k in self._client.refresh().keys]}

    def get_jwk_set(self, refresh: bool = False) -> PyJWKSet:
        """The JWK Set, from the cache unless ``refresh``."""
        key_set = self._client.refresh() if refresh else self._client.key_set()
        return PyJWKSet._from_native(key_set)

    def get_signing_keys(self, refresh: bool = False) -> list[PyJWK]:
        """The keys that have a ``kid`` (every kept key can verify signatures)."""
        keys = [k for k in self.get_jwk_set(refresh).keys if k.key_id]
        if not keys:
            raise PyJWKClientError("The JWKS endpoint did not contain any signing keys")
        return keys

    def get_signing_key(self, kid: str) -> PyJWK:
        """The key for ``kid``, refetching once per cooldown when it is unknown.
        ``KeyNotFoundError`` (a ``PyJWKClientError``) when there is none."""
        return PyJWK._from_native(self._client.get_signing_key(kid))

    async def aget_signing_key(self, kid: str) -> PyJWK:
        """``get_signing_key`` for asyncio."""
        return PyJWK._from_native(await self._client.aget_signing_key(kid))

    @staticmethod
    def _selector(token: str | bytes) -> tuple[str | None, str | None]:
        header = get_unverified_header(token)
        kid = header.get("kid")
        alg = header.get("alg")
        return kid, alg if alg in _SUPPORTED_ALGORITHMS else None

    def get_signing_key_from_jwt(self, token: str | bytes) -> PyJWK:
        """The key named by the token's (unverified) header: its ``kid``, and a
        key that fits its ``alg``. Verify with ``decode(token, key.key, algorithms=[...])``."""
        kid, alg = self._selector(token)
        return PyJWK._from_native(self._client.get_signing_key(kid, alg), alg)

    async def aget_signing_key_from_jwt(self, token: str | bytes) -> PyJWK:
        """``get_signing_key_from_jwt`` for asyncio."""
        kid, alg = self._selector(token)
        return PyJWK._from_native(await self._client.aget_signing_key(kid, alg), alg)

    @staticmethod
    def match_kid(signing_keys: list[PyJWK], kid: str) -> PyJWK | None:
        """The first of ``signing_keys`` whose ``kid`` is ``kid``."""
        if not isinstance(signing_keys, list | tuple) or not all(isinstance(k, PyJWK) for k in signing_keys):
            raise TypeError("signing_keys must be a list of PyJWK")
        for key in signing_keys:
            if key.key_id == kid:
                return key
        return None

    def __repr__(self) -> str:
        return f"<PyJWKClient uri={self._client.url!r}>"


_NATIVE_KEY_TYPES = (str, bytes, Key)
_CACHE_SIZE = 64
_converted: OrderedDict[int, tuple[object, Key]] = OrderedDict()
_converted_lock = threading.Lock()


def _cryptography_der(obj: object) -> bytes:
    """DER of a ``cryptography`` private key (PKCS#8), public key (SPKI) or certificate."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization as ser
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    except ImportError:  # pragma: no cover - cryptography is optional
        raise _bad_key_type(obj) from None
    if isinstance(obj, x509.Certificate):
        obj = obj.public_key()
    if isinstance(obj, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)):
        return obj.private_bytes(ser.Encoding.DER, ser.PrivateFormat.PKCS8, ser.NoEncryption())
    if isinstance(obj, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey)):
        return obj.public_bytes(ser.Encoding.DER, ser.PublicFormat.SubjectPublicKeyInfo)
    raise _bad_key_type(obj)


def _bad_key_type(obj: object) -> TypeError:
    return TypeError(
        "key must be str, bytes, a bastion Key, a PyJWK or a cryptography RSA, EC or Ed25519 key, "
        f"not {type(obj).__name__}"
    )


def _coerce_key(key: object) -> str | bytes | Key:
    """The native form of a key argument (cryptography conversions are cached)."""
    # Hot path, lock-free: a dict read is atomic; the entry's strong reference
    # guarantees ``id(key)`` still names the same object.
    hit = _converted.get(id(key))
    if hit is not None and hit[0] is key:
        return hit[1]
    if isinstance(key, _NATIVE_KEY_TYPES):
        return key
    if isinstance(key, PyJWK):
        return key.key
    if isinstance(key, (bytearray, memoryview)):
        return bytes(key)
    ident = id(key)
    native = Key.from_der(_cryptography_der(key))
    with _converted_lock:
        # The entry holds a strong reference, so ``id(key)`` cannot be reused while cached.
        _converted[ident] = (key, native)
        while len(_converted) > _CACHE_SIZE:
            _converted.popitem(last=False)
    return native


# ---- module-level functions ----------------------------------------------------------


def _legacy_arguments(name: str, kwargs: dict[str, Any], verify: bool | None, options: Any) -> None:
    if kwargs:
        warnings.warn(
            f"passing additional kwargs to {name}() is deprecated "
            "and will be removed in pyjwt version 3. "
            f"Unsupported kwargs: {tuple(kwargs.keys())}",
            RemovedInPyjwt3Warning,
            stacklevel=3,
        )
    if verify is not None:
        verify_signature = True if options is None else options.get("verify_signature", True)
        if verify != verify_signature:
            warnings.warn(
                "The `verify` argument to `decode` does nothing in PyJWT 2.0 and newer. "
                "The equivalent is setting `verify_signature` to False in the `options` dictionary. "
                "This invocation has a mismatch between the kwarg and the option entry.",
                category=DeprecationWarning,
                stacklevel=3,
            )


def encode(
    payload: Mapping[str, Any],
    key: Any,
    algorithm: str | None = _ALGORITHM_UNSET,
    headers: Mapping[str, Any] | None = None,
    json_encoder: type[Any] | None = None,
    sort_headers: bool = True,
) -> str:
    """Sign ``payload`` as a JWT (PyJWT's ``jwt.encode``).

    ``key``: ``str`` / ``bytes`` (an HMAC secret or PEM/JWK/OpenSSH text), a
    :class:`bastion.Key`, a :class:`PyJWK` or a ``cryptography`` private key.
    ``datetime`` values of ``exp``, ``iat`` and ``nbf`` become integer
    timestamps; header members are written sorted.
    """
    return _encode(payload, key, algorithm, headers, json_encoder, sort_headers, False)


def _encode(
    payload: Mapping[str, Any],
    key: Any,
    algorithm: str | None,
    headers: Mapping[str, Any] | None,
    json_encoder: type[Any] | None,
    sort_headers: bool,
    allow_weak_keys: bool,
) -> str:
    if algorithm is _ALGORITHM_UNSET or algorithm is None:
        if isinstance(key, PyJWK):
            algorithm = key.algorithm_name
        elif algorithm is _ALGORITHM_UNSET:
            algorithm = "HS256"
    if key.__class__ not in _NATIVE_KEY_TYPES:
        key = _coerce_key(key)
    return _native.jwt_encode(payload, key, algorithm, headers, json_encoder, sort_headers, allow_weak_keys)


def decode_complete(
    jwt: str | bytes,
    key: Any = "",
    algorithms: Sequence[str] | None = None,
    options: Mapping[str, Any] | None = None,
    verify: bool | None = None,
    detached_payload: bytes | None = None,
    audience: str | Iterable[str] | None = None,
    issuer: str | Iterable[str] | None = None,
    subject: str | None = None,
    leeway: float | timedelta = 0,
    *,
    clock: ManualClock | None = None,
    max_token_size: int = DEFAULT_MAX_TOKEN_SIZE,
    **kwargs: Any,
) -> dict[str, Any]:
    """Verify ``jwt`` and return ``{"header": ..., "payload": ..., "signature": ...}``
    (PyJWT's ``jwt.decode_complete``). ``clock`` and ``max_token_size`` are
    bastion extensions."""
    if kwargs or verify is not None:
        _legacy_arguments("decode_complete", kwargs, verify, options)
    if key.__class__ not in _NATIVE_KEY_TYPES:
        if isinstance(key, PyJWK) and algorithms is None:
            algorithms = [key.algorithm_name]
        key = _coerce_key(key)
    return _native.jwt_decode_complete(
        jwt,
        key,
        algorithms,
        options,
        detached_payload,
        audience,
        issuer,
        subject,
        leeway,
        clock,
        max_token_size,
    )


def decode(
    jwt: str | bytes,
    key: Any = "",
    algorithms: Sequence[str] | None = None,
    options: Mapping[str, Any] | None = None,
    verify: bool | None = None,
    detached_payload: bytes | None = None,
    audience: str | Iterable[str] | None = None,
    subject: str | None = None,
    issuer: str | Iterable[str] | None = None,
    leeway: float | timedelta = 0,
    *,
    clock: ManualClock | None = None,
    max_token_size: int = DEFAULT_MAX_TOKEN_SIZE,
    **kwargs: Any,
) -> dict[str, Any]:
    """Verify ``jwt`` and return its claims (PyJWT's ``jwt.decode``).

    ``algorithms`` is required unless ``options["verify_signature"]`` is false.
    ``options`` takes PyJWT's keys (``verify_signature``, ``verify_exp``,
    ``verify_nbf``, ``verify_iat``, ``verify_aud``, ``verify_iss``,
    ``verify_sub``, ``verify_jti``, ``require``, ``strict_aud``) and
    ``enforce_minimum_key_length`` (default True here).
    """
    if kwargs or verify is not None:
        _legacy_arguments("decode", kwargs, verify, options)
    if key.__class__ not in _NATIVE_KEY_TYPES:
        if isinstance(key, PyJWK) and algorithms is None:
            algorithms = [key.algorithm_name]
        key = _coerce_key(key)
    return _native.jwt_decode(
        jwt,
        key,
        algorithms,
        options,
        detached_payload,
        audience,
        issuer,
        subject,
        leeway,
        clock,
        max_token_size,
    )


def get_unverified_header(jwt: str | bytes) -> dict[str, Any]:
    """The token's header, parsed strictly but NOT verified (PyJWT's
    ``jwt.get_unverified_header``). Use it only to pick a key (``kid``)."""
    return _native.jwt_get_unverified_header(jwt)


# ---- the PyJWT class -----------------------------------------------------------------


class PyJWT:
    """PyJWT's ``PyJWT`` class: default ``options`` for ``encode`` / ``decode``."""

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options: dict[str, Any] = self._get_default_options()
        if options is not None:
            self.options = self._merge_options(options)

    @staticmethod
    def _get_default_options() -> dict[str, Any]:
        return {
            "verify_signature": True,
            "verify_exp": True,
            "verify_nbf": True,
            "verify_iat": True,
            "verify_aud": True,
            "verify_iss": True,
            "verify_sub": True,
            "verify_jti": True,
            "require": [],
            "strict_aud": False,
            "enforce_minimum_key_length": True,
        }

    def _merge_options(self, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
        if options is None:
            return self.options
        if not isinstance(options, Mapping):
            raise TypeError(f"options must be a mapping, not {type(options).__name__}")
        merged = dict(options)
        if not merged.get("verify_signature", True):
            for name in (
                "verify_exp",
                "verify_nbf",
                "verify_iat",
                "verify_aud",
                "verify_iss",
                "verify_sub",
                "verify_jti",
            ):
                merged[name] = merged.get(name, False)
        return {**self.options, **merged}

    def encode(
        self,
        payload: Mapping[str, Any],
        key: Any,
        algorithm: str | None = _ALGORITHM_UNSET,
        headers: Mapping[str, Any] | None = None,
        json_encoder: type[Any] | None = None,
        sort_headers: bool = True,
    ) -> str:
        """Sign ``payload`` (see :func:`encode`) with this instance's options."""
        weak = not self.options.get("enforce_minimum_key_length", True)
        return _encode(payload, key, algorithm, headers, json_encoder, sort_headers, weak)

    def decode_complete(
        self,
        jwt: str | bytes,
        key: Any = "",
        algorithms: Sequence[str] | None = None,
        options: Mapping[str, Any] | None = None,
        verify: bool | None = None,
        detached_payload: bytes | None = None,
        audience: str | Iterable[str] | None = None,
        issuer: str | Iterable[str] | None = None,
        subject: str | None = None,
        leeway: float | timedelta = 0,
        *,
        clock: ManualClock | None = None,
        max_token_size: int = DEFAULT_MAX_TOKEN_SIZE,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """:func:`decode_complete` with this instance's options merged under ``options``."""
        if kwargs or verify is not None:
            _legacy_arguments("decode_complete", kwargs, verify, options)
        merged = self._merge_options(options)
        # As in PyJWT, only the call's options decide whether the signature is verified.
        merged["verify_signature"] = True if options is None else options.get("verify_signature", True)
        return decode_complete(
            jwt,
            key,
            algorithms,
            merged,
            None,
            detached_payload,
            audience,
            issuer,
            subject,
            leeway,
            clock=clock,
            max_token_size=max_token_size,
        )

    def decode(
        self,
        jwt: str | bytes,
        key: Any = "",
        algorithms: Sequence[str] | None = None,
        options: Mapping[str, Any] | None = None,
        verify: bool | None = None,
        detached_payload: bytes | None = None,
        audience: str | Iterable[str] | None = None,
        subject: str | None = None,
        issuer: str | Iterable[str] | None = None,
        leeway: float | timedelta = 0,
        *,
        clock: ManualClock | None = None,
        max_token_size: int = DEFAULT_MAX_TOKEN_SIZE,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """:func:`decode` with this instance's options merged under ``options``."""
        if kwargs or verify is not None:
            _legacy_arguments("decode", kwargs, verify, options)
        merged = self._merge_options(options)
        merged["verify_signature"] = True if options is None else options.get("verify_signature", True)
        return decode(
            jwt,
            key,
            algorithms,
            merged,
            None,
            detached_payload,
            audience,
            subject,
            issuer,
            leeway,
            clock=clock,
            max_token_size=max_token_size,
        )
