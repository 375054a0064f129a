"""Django password hashers on bastion's core, under Django's algorithm names.

Put them in ``PASSWORD_HASHERS`` in place of Django's::

    PASSWORD_HASHERS = [
        "bastion.django.hashers.Argon2PasswordHasher",
        "bastion.django.hashers.PBKDF2PasswordHasher",
        "bastion.django.hashers.BCryptSHA256PasswordHasher",
    ]

Each writes exactly what Django's hasher of the same name writes (same salt, same string), reads
every hash Django's hasher wrote, and answers ``decode``, ``safe_summary``, ``must_update`` and
``harden_runtime`` as Django does. The work runs in Rust with the GIL released, so Django's
``acheck_password`` (a worker thread) never blocks the event loop, and other threads keep running.
Costs are class attributes, as in Django: subclass to change them.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any, ClassVar

from django.contrib.auth import hashers as django_hashers
from django.contrib.auth.hashers import BasePasswordHasher, mask_hash
from django.utils.translation import gettext_noop as _

from bastion import _native
from bastion.exceptions import InvalidArgumentError, InvalidHashError
from bastion.password import Parameters, Type

__all__ = ["Argon2PasswordHasher", "BCryptSHA256PasswordHasher", "PBKDF2PasswordHasher"]

_ARGON2_TYPES = {"argon2id": Type.ID, "argon2i": Type.I, "argon2d": Type.D}
_BCRYPT_B64 = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _text(password: str | bytes) -> str | bytes:
    if password is None:
        raise TypeError("password must be provided.")
    return password


class _NativeHasher(BasePasswordHasher):
    """Shared parts: the native hasher built from the class's costs, verify, identify."""

    native_algorithm: ClassVar[str]

    def _params(self) -> dict[str, int]:
        raise NotImplementedError

    def _native(self, **override: int) -> _native.PasswordHasher:
        params = {**self._params(), **override}
        return _native.PasswordHasher(self.native_algorithm, "django", **params)

    def _identify(self, encoded: str) -> dict[str, Any]:
        """The parsed hash (strict: a malformed string raises ``ValueError``)."""
        if not isinstance(encoded, str) or not encoded.startswith(self.algorithm + "$"):
            raise ValueError(f"not a {self.algorithm} hash")
        info = _native.identify_hash(encoded)
        if info["algorithm"] != self.algorithm or info["format"] != "django":
            raise ValueError(f"not a {self.algorithm} hash")
        return info

    def verify(self, password: str | bytes, encoded: str) -> bool:
        """True when ``password`` matches; False for a wrong password or a malformed hash."""
        try:
            self._identify(encoded)
            return _native.verify_password(encoded, _text(password))
        except (ValueError, InvalidHashError):
            return False

    def must_update(self, encoded: str) -> bool:
        """True when the hash was made with other costs, or with a salt under 128 bits."""
        self._identify(encoded)
        return self._native().needs_rehash(encoded)


class PBKDF2PasswordHasher(_NativeHasher):
    """Django's ``pbkdf2_sha256``: PBKDF2-HMAC-SHA256 with Django's iteration count."""

    algorithm = "pbkdf2_sha256"
    native_algorithm = "pbkdf2_sha256"
    iterations = django_hashers.PBKDF2PasswordHasher.iterations

    def _params(self) -> dict[str, int]:
        return {"iterations": self.iterations}

    def encode(self, password: str | bytes, salt: str, iterations: int | None = None) -> str:
        self._check_encode_args(password, salt)
        hasher = self._native(iterations=iterations or self.iterations)
        return hasher.hash(password, salt=salt.encode("ascii"))

    def decode(self, encoded: str) -> dict[str, Any]:
        info = self._identify(encoded)
        algorithm, _iterations, salt, hash = encoded.split("$", 3)
        return {
            "algorithm": algorithm,
            "hash": hash,
            "iterations": info["params"]["iterations"],
            "salt": salt,
        }

    def safe_summary(self, encoded: str) -> dict[str, Any]:
        decoded = self.decode(encoded)
        return {
            _("algorithm"): decoded["algorithm"],
            _("iterations"): decoded["iterations"],
            _("salt"): mask_hash(decoded["salt"]),
            _("hash"): mask_hash(decoded["hash"]),
        }

    def harden_runtime(self, password: str | bytes, encoded: str) -> None:
        decoded = self.decode(encoded)
        extra = self.iterations - decoded["iterations"]
        if extra > 0:
            self.encode(password, decoded["salt"], extra)


class Argon2PasswordHasher(_NativeHasher):
    """Django's ``argon2``: Argon2id, t=2, m=102400 KiB, p=8, 32-byte tag (argon2-cffi not needed)."""

    algorithm = "argon2"
    native_algorithm = "argon2id"
    time_cost = 2
    memory_cost = 102400
    parallelism = 8

    def _params(self) -> dict[str, int]:
        return {
            "time_cost": self.time_cost,
            "memory_cost": self.memory_cost,
            "parallelism": self.parallelism,
            "hash_len": 32,
        }

    def params(self) -> Parameters:
        """The parameters new hashes use (Django's ``params()``; ``salt_len`` is not compared)."""
        return Parameters(Type.ID, 19, 16, 32, self.time_cost, self.memory_cost, self.parallelism)

    def encode(self, password: str | bytes, salt: str) -> str:
        self._check_encode_args(password, salt)
        return self._native().hash(password, salt=salt.encode("ascii"))

    def decode(self, encoded: str) -> dict[str, Any]:
        info = self._identify(encoded)
        p = info["params"]
        variety, *_rest, b64salt, hash = encoded.split("$", 1)[1].split("$")
        salt = base64.b64decode(b64salt + "=" * (-len(b64salt) % 4)).decode("latin1")
        params = Parameters(
            _ARGON2_TYPES[variety],
            p["version"],
            p["salt_len"],
            p["hash_len"],
            p["time_cost"],
            p["memory_cost"],
            p["parallelism"],
        )
        return {
            "algorithm": self.algorithm,
            "hash": hash,
            "memory_cost": p["memory_cost"],
            "parallelism": p["parallelism"],
            "salt": salt,
            "time_cost": p["time_cost"],
            "variety": variety,
            "version": p["version"],
            "params": params,
        }

    def safe_summary(self, encoded: str) -> dict[str, Any]:
        decoded = self.decode(encoded)
        return {
            _("algorithm"): decoded["algorithm"],
            _("variety"): decoded["variety"],
            _("version"): decoded["version"],
            _("memory cost"): decoded["memory_cost"],
            _("time cost"): decoded["time_cost"],
            _("parallelism"): decoded["parallelism"],
            _("salt"): mask_hash(decoded["salt"]),
            _("hash"): mask_hash(decoded["hash"]),
        }

    def harden_runtime(self, password: str | bytes, encoded: str) -> None:
        # As Django: Argon2's cost has three dimensions; no meaningful top-up exists.
        pass


class BCryptSHA256PasswordHasher(_NativeHasher):
    """Django's ``bcrypt_sha256``: bcrypt (cost 12) of the hex SHA-256 of the password (the bcrypt
    package not needed)."""

    algorithm = "bcrypt_sha256"
    native_algorithm = "bcrypt_sha256"
    rounds = 12

    def _params(self) -> dict[str, int]:
        return {"rounds": self.rounds}

    def salt(self) -> str:
        """A bcrypt salt, ``$2b$<rounds>$<22 characters>``, as ``bcrypt.gensalt`` makes."""
        return f"$2b${self.rounds:02d}${_bcrypt_b64(secrets.token_bytes(16))}"

    def encode(self, password: str | bytes, salt: str | bytes) -> str:
        if password is None:
            raise TypeError("password must be provided.")
        if isinstance(salt, bytes):
            salt = salt.decode("ascii")
        raw, rounds = _parse_bcrypt_salt(salt)
        return self._native(rounds=rounds).hash(password, salt=raw)

    def decode(self, encoded: str) -> dict[str, Any]:
        info = self._identify(encoded)
        algorithm, _empty, algostr, _work_factor, data = encoded.split("$", 4)
        return {
            "algorithm": algorithm,
            "algostr": algostr,
            "checksum": data[22:],
            "salt": data[:22],
            "work_factor": info["params"]["cost"],
        }

    def safe_summary(self, encoded: str) -> dict[str, Any]:
        decoded = self.decode(encoded)
        return {
            _("algorithm"): decoded["algorithm"],
            _("work factor"): decoded["work_factor"],
            _("salt"): mask_hash(decoded["salt"]),
            _("checksum"): mask_hash(decoded["checksum"]),
        }

    def harden_runtime(self, password: str | bytes, encoded: str) -> None:
        decoded = self.decode(encoded)
        salt = f"${decoded['algostr']}${decoded['work_factor']:02d}${decoded['salt']}"
        # bcrypt's work doubles per cost step: run the stored cost 2^(difference) - 1 more times.
        for _i in range(2 ** (self.rounds - decoded["work_factor"]) - 1):
            self.encode(password, salt)


def _bcrypt_b64(raw: bytes) -> str:
    """bcrypt's base64 (``./A-Za-z0-9``, no padding) of 16 bytes: 22 characters."""
    n = int.from_bytes(raw + b"\0\0", "big")  # 144 bits: 24 groups of 6; the last 2 are padding
    chars = [_BCRYPT_B64[(n >> (138 - 6 * i)) & 63] for i in range(22)]
    return "".join(chars)


def _parse_bcrypt_salt(salt: str) -> tuple[bytes, int]:
    """``$2b$12$<22 chars>[checksum]`` to (16 salt bytes, cost); ``ValueError`` when malformed."""
    parts = salt.split("$")
    if len(parts) != 4 or parts[0] or parts[1] not in ("2a", "2b", "2y") or len(parts[3]) < 22:
        raise ValueError("salt must be a bcrypt salt ($2b$<cost>$<22 characters>)")
    if not (len(parts[2]) == 2 and parts[2].isdigit()):
        raise ValueError("salt must be a bcrypt salt ($2b$<cost>$<22 characters>)")
    text = parts[3][:22]
    try:
        n = 0
        for c in text:
            n = (n << 6) | _BCRYPT_B64.index(c)
    except ValueError:
        raise ValueError("salt is not bcrypt base64") from None
    if n & 0xF:
        raise ValueError("salt is not canonical bcrypt base64")
    raw = (n >> 4).to_bytes(16, "big")
    try:
        rounds = int(parts[2])
        _native.PasswordHasher("bcrypt_sha256", "django", rounds=rounds)
    except InvalidArgumentError:
        raise ValueError("bcrypt cost out of range") from None
    return raw, rounds
