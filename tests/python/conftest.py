"""Shared fixtures: real keys made with ``cryptography``, fixed clocks, real Redis servers."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis_harness
from bastion import ManualClock, Store
from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

# A fixed instant: every time-dependent test reads a ManualClock set here.
NOW = 1_700_000_000

# Long enough for HS512 (64 bytes), random-looking (many distinct bytes).
HMAC_SECRET = "k3Y-9fQ2_vLx8RtZp4Wn7JcB1sHd6MgA0eUoTyIqXrNbVwEiCjGlKhPzSaDuFmOy"


@dataclass(frozen=True)
class KeyPair:
    """One asymmetric key in the forms the tests need."""

    alg: str
    private: Any  # cryptography private key
    public: Any  # cryptography public key

    @property
    def private_pem(self) -> bytes:
        return self.private.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption())

    @property
    def public_pem(self) -> bytes:
        return self.public.public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo)

    @property
    def private_der(self) -> bytes:
        return self.private.private_bytes(ser.Encoding.DER, ser.PrivateFormat.PKCS8, ser.NoEncryption())

    @property
    def public_der(self) -> bytes:
        return self.public.public_bytes(ser.Encoding.DER, ser.PublicFormat.SubjectPublicKeyInfo)

    @property
    def public_ssh(self) -> bytes:
        return self.public.public_bytes(ser.Encoding.OpenSSH, ser.PublicFormat.OpenSSH)


_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_EC = {
    "ES256": ec.generate_private_key(ec.SECP256R1()),
    "ES384": ec.generate_private_key(ec.SECP384R1()),
    "ES512": ec.generate_private_key(ec.SECP521R1()),
    "ES256K": ec.generate_private_key(ec.SECP256K1()),
}
_ED = ed25519.Ed25519PrivateKey.generate()

ASYMMETRIC: dict[str, KeyPair] = {
    **{
        a: KeyPair(a, _RSA, _RSA.public_key()) for a in ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
    },
    **{a: KeyPair(a, k, k.public_key()) for a, k in _EC.items()},
    "EdDSA": KeyPair("EdDSA", _ED, _ED.public_key()),
}
HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
ALL_ALGORITHMS = HMAC_ALGORITHMS + tuple(ASYMMETRIC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def claims() -> dict[str, Any]:
    return {"sub": "user-1", "iat": NOW, "exp": NOW + 300, "role": "admin"}


@pytest.fixture(scope="session")
def rsa_pair() -> KeyPair:
    return ASYMMETRIC["RS256"]


# Real Redis (tests/python/redis_harness.py): each fixture skips when redis-server is missing, and fails
# instead when CI=true.


@pytest.fixture(scope="session")
def redis_server() -> Iterator[redis_harness.RedisServer]:
    """One server for the whole session. Tests must not stop or pause it (use ``fresh_redis_server``) and
    keep to their own keys (``redis_prefix``)."""
    server = redis_harness.server_or_skip()
    yield server
    server.close()


@pytest.fixture
def fresh_redis_server() -> Iterator[redis_harness.RedisServer]:
    """A server for this test alone, which it may stop, restart, pause and resume."""
    server = redis_harness.server_or_skip()
    yield server
    server.close()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[redis_harness.RedisCluster]:
    """One three-master Redis Cluster for the whole session (tests must not stop its nodes)."""
    cluster = redis_harness.cluster_or_skip()
    yield cluster
    cluster.close()


@pytest.fixture
def redis_prefix(request: pytest.FixtureRequest) -> str:
    """A key prefix of this test's own, for tests that share a server or cluster."""
    return redis_harness.unique_prefix(request.node.name)


StoreFactory = Callable[[ManualClock | None], Store]


@pytest.fixture(params=["memory", "redis", "cluster"])
def make_store(request: pytest.FixtureRequest, redis_prefix: str) -> StoreFactory:
    """Builds a store of the parametrised backend, timed by the given clock (Redis ``TIME`` for None).
    Every store it builds for one clock shares one state: one memory store, or one Redis (or
    Cluster) under this test's prefix, as other processes would open it."""
    if request.param == "memory":
        stores: dict[int, Store] = {}
        return lambda clock: stores.setdefault(id(clock), Store(clock=clock))
    if request.param == "redis":
        url = request.getfixturevalue("redis_server").url
    else:
        url = request.getfixturevalue("redis_cluster").url
    return lambda clock: Store(url, timeout=2.0, prefix=redis_prefix, clock=clock)


class Forked:
    """A forked worker and two pipes to step it: ``pid`` (0 in the worker), ``signal_parent()`` /
    ``wait_parent()`` and ``signal_child()`` / ``wait_child()``."""

    def __init__(self) -> None:
        import warnings

        self._to_child = os.pipe()
        self._to_parent = os.pipe()
        with warnings.catch_warnings():
            # Python warns that forking a process with threads may deadlock the child: the tests
            # fork on purpose, as pre-fork servers do.
            warnings.simplefilter("ignore", DeprecationWarning)
            self.pid = os.fork()

    def signal_parent(self) -> None:
        os.write(self._to_parent[1], b"r")

    def wait_child(self) -> None:
        os.read(self._to_parent[0], 1)

    def signal_child(self) -> None:
        os.write(self._to_child[1], b"g")

    def wait_parent(self) -> None:
        os.read(self._to_child[0], 1)

    def exit_code(self) -> int:
        _, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status)
