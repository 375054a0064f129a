"""Password hashing: Argon2, PBKDF2 and bcrypt in the argon2-cffi, bcrypt and Django formats.

- :class:`PasswordHasher` is argon2-cffi's ``PasswordHasher`` (same arguments,
  methods, exceptions and output), on bastion's core.
- :func:`hash_password` / :func:`verify_password` / :func:`needs_rehash` work
  with every supported format: Argon2 PHC strings, Django's ``argon2``,
  ``pbkdf2_sha256``, ``pbkdf2_sha1``, ``bcrypt_sha256`` and ``bcrypt``, ``$2b$``
  bcrypt, and (verify only) passlib's ``$pbkdf2-sha256$``.
- :func:`ahash_password` / :func:`averify_password` run the work in a thread
  (the hash releases the GIL), so the event loop keeps serving.

Every hash and verification runs in Rust with the GIL released.
"""

from __future__ import annotations

import asyncio
import enum
import functools
from dataclasses import dataclass
from typing import Any, Literal

from bastion import _native
from bastion._native import memory_budget, set_memory_budget_kib
from bastion.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = [
    "DEFAULT_HASH_LENGTH",
    "DEFAULT_MEMORY_COST",
    "DEFAULT_PARALLELISM",
    "DEFAULT_RANDOM_SALT_LENGTH",
    "DEFAULT_TIME_COST",
    "InvalidHashError",
    "Parameters",
    "PasswordHasher",
    "Type",
    "VerificationError",
    "VerifyMismatchError",
    "ahash_password",
    "argon2_hash_raw",
    "averify_password",
    "extract_parameters",
    "hash_password",
    "hash_secret_raw",
    "identify_hash",
    "memory_budget",
    "needs_rehash",
    "set_memory_budget_kib",
    "verify_password",
]

DEFAULT_TIME_COST = 3
DEFAULT_MEMORY_COST = 65536
DEFAULT_PARALLELISM = 4
DEFAULT_HASH_LENGTH = 32
DEFAULT_RANDOM_SALT_LENGTH = 16

identify_hash = _native.identify_hash
argon2_hash_raw = _native.argon2_hash_raw


class Type(enum.Enum):
    """The Argon2 variant (argon2-cffi's ``argon2.Type``, same values)."""

    D = 0
    I = 1  # noqa: E741 - argon2-cffi's name
    ID = 2


_TYPE_NAMES = {Type.D: "argon2d", Type.I: "argon2i", Type.ID: "argon2id"}
_NAME_TYPES = {v: k for k, v in _TYPE_NAMES.items()}


@dataclass(frozen=True)
class Parameters:
    """Argon2 parameters (argon2-cffi's ``argon2.Parameters``)."""

    type: Type
    version: int
    salt_len: int
    hash_len: int
    time_cost: int
    memory_cost: int
    parallelism: int


def extract_parameters(hash: str | bytes) -> Parameters:
    """The parameters of an Argon2 PHC string (argon2-cffi's ``extract_parameters``)."""
    info = _native.identify_hash(hash)
    if info["algorithm"] not in _NAME_TYPES or info["format"] != "phc":
        raise InvalidHashError("not an Argon2 PHC hash")
    p = info["params"]
    return Parameters(
        type=_NAME_TYPES[info["algorithm"]],
        version=p["version"],
        salt_len=p["salt_len"],
        hash_len=p["hash_len"],
        time_cost=p["time_cost"],
        memory_cost=p["memory_cost"],
        parallelism=p["parallelism"],
    )


def hash_secret_raw(
    secret: bytes,
    salt: bytes,
    time_cost: int,
    memory_cost: int,
    parallelism: int,
    hash_len: int,
    type: Type,
    version: int = 19,
) -> bytes:
    """A raw Argon2 tag (argon2-cffi's ``argon2.low_level.hash_secret_raw``).

    ``secret`` is the password, as in argon2-cffi. For a pepper and associated
    data, use :func:`argon2_hash_raw`.
    """
    if not isinstance(type, Type):
        raise TypeError(f"'type' must be a Type (got {type.__class__.__name__}).")
    return _native.argon2_hash_raw(
        secret,
        salt,
        variant=_TYPE_NAMES[type],
        version=version,
        time_cost=time_cost,
        memory_cost=memory_cost,
        parallelism=parallelism,
        hash_len=hash_len,
    )


class PasswordHasher:
    """argon2-cffi's ``PasswordHasher``: Argon2id with RFC 9106's low-memory
    profile by default, random 16-byte salts, PHC strings that argon2-cffi
    reads and writes identically."""

    __slots__ = ("_hasher", "_parameters", "encoding")

    def __init__(
        self,
        time_cost: int = DEFAULT_TIME_COST,
        memory_cost: int = DEFAULT_MEMORY_COST,
        parallelism: int = DEFAULT_PARALLELISM,
        hash_len: int = DEFAULT_HASH_LENGTH,
        salt_len: int = DEFAULT_RANDOM_SALT_LENGTH,
        encoding: str = "utf-8",
        type: Type = Type.ID,
    ) -> None:
        wrong = [
            f"'{name}' must be a {kind.__name__} (got {value.__class__.__name__})."
            for name, value, kind in (
                ("time_cost", time_cost, int),
                ("memory_cost", memory_cost, int),
                ("parallelism", parallelism, int),
                ("hash_len", hash_len, int),
                ("salt_len", salt_len, int),
                ("encoding", encoding, str),
                ("type", type, Type),
            )
            if not isinstance(value, kind)
        ]
        if wrong:
            raise TypeError(", ".join(wrong))
        self._hasher = _native.PasswordHasher(
            _TYPE_NAMES[type],
            "phc",
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            hash_len=hash_len,
            salt_len=salt_len,
        )
        self._parameters = Parameters(type, 19, salt_len, hash_len, time_cost, memory_cost, parallelism)
        self.encoding = encoding

    @classmethod
    def from_parameters(cls, params: Parameters) -> PasswordHasher:
        """A hasher with ``params`` (argon2-cffi's ``from_parameters``)."""
        return cls(
            time_cost=params.time_cost,
            memory_cost=params.memory_cost,
            parallelism=params.parallelism,
            hash_len=params.hash_len,
            salt_len=params.salt_len,
            type=params.type,
        )

    @property
    def time_cost(self) -> int:
        return self._parameters.time_cost

    @property
    def memory_cost(self) -> int:
        return self._parameters.memory_cost

    @property
    def parallelism(self) -> int:
        return self._parameters.parallelism

    @property
    def hash_len(self) -> int:
        return self._parameters.hash_len

    @property
    def salt_len(self) -> int:
        return self._parameters.salt_len

    @property
    def type(self) -> Type:
        return self._parameters.type

    def _bytes(self, password: str | bytes) -> bytes | str:
        if isinstance(password, str) and self.encoding.lower().replace("-", "").replace("_", "") != "utf8":
            return password.encode(self.encoding)
        return password

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        """Hash ``password`` with a random salt (or ``salt``); returns the PHC string."""
        return self._hasher.hash(self._bytes(password), salt=salt or None)

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        """True if ``password`` matches the Argon2 ``hash``; otherwise
        :class:`VerifyMismatchError`. :class:`InvalidHashError` if ``hash`` is
        not an Argon2 PHC string."""
        if isinstance(hash, bytes):
            hash = hash.decode("ascii", errors="replace")
        if not isinstance(hash, str) or not hash.startswith(("$argon2i$", "$argon2d$", "$argon2id$")):
            raise InvalidHashError("not an Argon2 PHC hash")
        if not self._hasher.verify(hash, self._bytes(password)):
            raise VerifyMismatchError("The password does not match the supplied hash")
        return True

    def check_needs_rehash(self, hash: str | bytes) -> bool:
        """True when ``hash`` was not made with this hasher's parameters."""
        return self._hasher.needs_rehash(hash)


# ---- any format ----------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _hasher(
    algorithm: str, format: str | None, params: tuple[tuple[str, int], ...]
) -> _native.PasswordHasher:
    return _native.PasswordHasher(algorithm, format, **dict(params))


def _get(algorithm: str, format: str | None, params: dict[str, Any]) -> _native.PasswordHasher:
    try:
        key = tuple(sorted(params.items()))
        hash(key)
    except TypeError:
        return _native.PasswordHasher(algorithm, format, **params)
    return _hasher(algorithm, format, key)


def hash_password(
    password: str | bytes,
    algorithm: str = "argon2id",
    *,
    format: str | None = None,
    salt: bytes | None = None,
    **params: int,
) -> str:
    """Hash ``password`` (``str`` is UTF-8 encoded).

    ``algorithm``: ``"argon2id"`` (default), ``"argon2i"``, ``"argon2d"``,
    ``"argon2"`` (Django's name, argon2id), ``"pbkdf2_sha256"``,
    ``"pbkdf2_sha1"``, ``"bcrypt"``, ``"bcrypt_sha256"``. ``format``:
    ``"phc"`` (argon2-cffi / ``$2b$`` bcrypt strings) or ``"django"``
    (``make_password`` strings); by default ``"django"`` for PBKDF2 and
    bcrypt_sha256 (only Django writes them), ``"phc"`` otherwise. ``params``: ``time_cost``, ``memory_cost``,
    ``parallelism``, ``hash_len``, ``salt_len``, ``version`` (Argon2),
    ``iterations`` (PBKDF2), ``rounds`` (bcrypt); unset ones take the format's
    defaults (argon2-cffi's for Argon2 PHC, Django's otherwise).
    """
    return _get(algorithm, format, params).hash(password, salt=salt)


def verify_password(encoded: str | bytes, password: str | bytes) -> bool:
    """True when ``password`` matches ``encoded`` in any supported format,
    False otherwise. :class:`InvalidHashError` for a malformed or unsupported hash."""
    return _native.verify_password(encoded, password)


def needs_rehash(
    encoded: str | bytes,
    algorithm: str = "argon2id",
    *,
    format: str | None = None,
    **params: int,
) -> bool:
    """True when ``encoded`` differs from what :func:`hash_password` with the
    same arguments would write (scheme, format or parameters)."""
    return _get(algorithm, format, params).needs_rehash(encoded)


async def ahash_password(
    password: str | bytes,
    algorithm: str = "argon2id",
    *,
    format: str | None = None,
    salt: bytes | None = None,
    **params: int,
) -> str:
    """:func:`hash_password` in a worker thread: the event loop is not blocked."""
    return await asyncio.to_thread(hash_password, password, algorithm, format=format, salt=salt, **params)


async def averify_password(encoded: str | bytes, password: str | bytes) -> bool:
    """:func:`verify_password` in a worker thread: the event loop is not blocked."""
    return await asyncio.to_thread(_native.verify_password, encoded, password)
