"""API keys: the documented format (checked with Python's own base62 and
``zlib.crc32``), verification outcomes, malformed keys of every shape, pepper
rotation, and that neither a key nor a pepper shows in ``repr`` or errors."""

from __future__ import annotations

import hmac
import os
import pickle
import re
import secrets
import zlib
from hashlib import sha256

import pytest
from bastion import (
    ApiKeyError,
    ApiKeyExpiredError,
    ApiKeyHasher,
    ApiKeyRevokedError,
    BastionError,
    InvalidApiKeyError,
    InvalidArgumentError,
    InvalidHashError,
    IssuedApiKey,
    WeakSecretError,
    api_key_id,
)

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
KEY_RE = re.compile(r"^[a-z][a-z0-9]{1,15}_[0-9A-Za-z]{17}_[0-9A-Za-z]{49}$")
PEPPER = secrets.token_bytes(32)


def b62(data: bytes, width: int) -> str:
    n = int.from_bytes(data, "big")
    out = []
    for _ in range(width):
        n, r = divmod(n, 62)
        out.append(ALPHABET[r])
    assert n == 0
    return "".join(reversed(out))


def unb62(text: str, size: int) -> bytes:
    n = 0
    for c in text:
        n = n * 62 + ALPHABET.index(c)
    return n.to_bytes(size, "big")


def assemble(prefix: str, key_id: bytes, secret: bytes) -> str:
    body = f"{prefix}_{b62(key_id, 17)}_{b62(secret, 43)}"
    return body + b62(zlib.crc32(body.encode()).to_bytes(4, "big"), 6)


def split(key: str) -> tuple[str, bytes, bytes]:
    prefix, key_id, tail = key.split("_")
    return prefix, unb62(key_id, 12), unb62(tail[:43], 32)


@pytest.fixture
def hasher() -> ApiKeyHasher:
    return ApiKeyHasher(PEPPER)


def test_exception_tree() -> None:
    for cls in (InvalidApiKeyError, ApiKeyExpiredError, ApiKeyRevokedError):
        assert issubclass(cls, ApiKeyError)
        assert issubclass(cls, BastionError)
        assert issubclass(cls, ValueError)
    assert InvalidApiKeyError.code == "INVALID_API_KEY"
    assert ApiKeyExpiredError.code == "API_KEY_EXPIRED"
    assert ApiKeyRevokedError.code == "API_KEY_REVOKED"


def test_generate_follows_the_format(hasher: ApiKeyHasher) -> None:
    for prefix in ("bst", "ab", "acme2024", "abcdefghijklmnop"):
        issued = hasher.generate(prefix)
        assert isinstance(issued, IssuedApiKey)
        assert KEY_RE.match(issued.key)
        assert issued.prefix == prefix
        p, key_id, secret = split(issued.key)
        assert p == prefix
        assert b62(key_id, 17) == issued.id
        assert assemble(prefix, key_id, secret) == issued.key
        # The digest is HMAC-SHA256(pepper, prefix || 0 || id || secret), base64url.
        mac = hmac.new(PEPPER, prefix.encode() + b"\0" + key_id + secret, sha256).digest()
        assert issued.digest == "v1$" + _b64url(mac)
        assert hasher.verify(issued.key, issued.digest) is True
        assert hasher.verify(issued.key.encode(), issued.digest) is True
        assert api_key_id(issued.key) == issued.id
        assert api_key_id(issued.key, prefix) == issued.id
    assert hasher.generate().prefix == "bst"
    assert hasher.generate().key != hasher.generate().key


def _b64url(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_verification_outcomes(hasher: ApiKeyHasher) -> None:
    issued = hasher.generate()
    prefix, key_id, secret = split(issued.key)
    for i in (0, 16, 31):
        flipped = bytearray(secret)
        flipped[i] ^= 1
        assert hasher.verify(assemble(prefix, key_id, bytes(flipped)), issued.digest) is False
    other_id = bytes([key_id[0] ^ 1]) + key_id[1:]
    assert hasher.verify(assemble(prefix, other_id, secret), issued.digest) is False
    assert hasher.verify(assemble("acme", key_id, secret), issued.digest) is False
    assert hasher.verify(hasher.generate().key, issued.digest) is False
    assert ApiKeyHasher(secrets.token_bytes(32)).verify(issued.key, issued.digest) is False


def test_malformed_keys(hasher: ApiKeyHasher) -> None:
    good = hasher.generate().key
    prefix, key_id, secret = split(good)
    cases = [
        "",
        good[:69],
        good[:-1],
        good + "x",
        "a" * 85,
        "a" * 1_000_000,
        good[:10] + "é" + good[11:],
        good[:10] + "-" + good[11:],
        " " + good[1:],
        good.replace("_", "", 1),
        good[:40] + "_" + good[41:],
        assemble("Bst", key_id, secret),
        assemble("1st", key_id, secret),
        good[:-1] + ("A" if good[-1] != "A" else "B"),
        good[:30] + ("A" if good[30] != "A" else "B") + good[31:],
        f"{prefix}_{'z' * 17}_{good[-49:]}",
        "\ud800" * 72,
    ]
    for bad in cases:
        for call in (lambda k: hasher.verify(k, hasher.hash(good)), api_key_id, hasher.hash):
            with pytest.raises(InvalidApiKeyError) as info:
                call(bad)
            assert info.value.code == "INVALID_API_KEY"
            assert str(info.value).startswith("malformed API key")
            if len(bad) > 5:
                assert bad not in str(info.value)
    with pytest.raises(InvalidApiKeyError, match="prefix"):
        api_key_id(good, "acme")
    with pytest.raises(TypeError):
        api_key_id(12345)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        hasher.verify(None, "v1$x")  # type: ignore[arg-type]


def test_malformed_digests(hasher: ApiKeyHasher) -> None:
    issued = hasher.generate()
    mac = issued.digest[3:]
    for bad in ["", "v1", f"1${mac}", f"v01${mac}", f"v1${mac}=", f"v1${mac[1:]}", f"v99999999999${mac}"]:
        with pytest.raises(InvalidHashError):
            hasher.verify(issued.key, bad)
        with pytest.raises(InvalidHashError):
            hasher.needs_rehash(bad)


def test_pepper_rotation() -> None:
    p1, p2, p3 = (secrets.token_bytes(32) for _ in range(3))
    old = ApiKeyHasher(p1)
    issued = old.generate()
    assert issued.digest.startswith("v1$")
    assert not old.needs_rehash(issued.digest)

    rotated = ApiKeyHasher(p2, version=2, previous={1: p1})
    assert rotated.version == 2
    assert rotated.previous_versions == [1]
    assert rotated.verify(issued.key, issued.digest)
    assert rotated.needs_rehash(issued.digest)
    fresh = rotated.hash(issued.key)
    assert fresh.startswith("v2$")
    assert not rotated.needs_rehash(fresh)
    assert rotated.verify(issued.key, fresh)
    # A digest whose pepper the hasher does not hold is an error, not False.
    with pytest.raises(InvalidHashError, match="pepper version 2"):
        old.verify(issued.key, fresh)
    retired = ApiKeyHasher(p3, version=3, previous={2: p2})
    with pytest.raises(InvalidHashError):
        retired.verify(issued.key, issued.digest)
    assert retired.verify(issued.key, fresh)
    with pytest.raises(InvalidArgumentError):
        ApiKeyHasher(p2, version=2, previous={2: p1})


def test_weak_peppers_and_bad_arguments() -> None:
    for weak in ["short", "changeme" * 8, b"\0" * 32, "0123456789" * 8]:
        with pytest.raises(WeakSecretError):
            ApiKeyHasher(weak)
        with pytest.raises(WeakSecretError):
            ApiKeyHasher(PEPPER, version=2, previous={1: weak})
    with pytest.raises(InvalidArgumentError):
        ApiKeyHasher(PEPPER).generate("Bad-Prefix")
    with pytest.raises(TypeError):
        ApiKeyHasher(1234)  # type: ignore[arg-type]
    with pytest.raises(OverflowError):
        ApiKeyHasher(PEPPER, version=-1)


def test_repr_never_shows_secrets() -> None:
    pepper = "Qm9yZWFsaXMtcGVwcGVyLWZvci1iYXN0aW9uLXRlc3Rz"
    old = os.urandom(32)
    hasher = ApiKeyHasher(pepper, version=2, previous={1: old})
    shown = repr(hasher) + str(hasher)
    assert pepper not in shown and repr(old) not in shown
    assert shown.startswith("<ApiKeyHasher version=2 previous_versions=[1]>")
    issued = hasher.generate()
    for shown in (repr(issued), str(issued)):
        assert issued.key not in shown
        assert issued.key[-49:-6] not in shown
        assert issued.digest not in shown
        assert issued.id in shown
    with pytest.raises(TypeError):
        pickle.dumps(issued)
    with pytest.raises(TypeError):
        pickle.dumps(hasher)
