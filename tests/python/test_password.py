"""Password hashing: round trips, formats, rehash rules, the argon2-cffi-compatible class, async twins."""

from __future__ import annotations

import asyncio
import base64
import hashlib

import pytest
from bastion import (
    InvalidArgumentError,
    InvalidHashError,
    VerificationError,
    VerifyMismatchError,
    ahash_password,
    averify_password,
    hash_password,
    identify_hash,
    needs_rehash,
    verify_password,
)
from bastion import _native as native
from bastion.password import PasswordHasher, Type, extract_parameters

ARGON2_FAST = {"time_cost": 1, "memory_cost": 256, "parallelism": 2}

# (algorithm, format, params, expected identify_hash()["algorithm"])
SCHEMES: list[tuple[str, str, dict[str, int], str]] = [
    ("argon2id", "phc", ARGON2_FAST, "argon2id"),
    ("argon2i", "phc", ARGON2_FAST, "argon2i"),
    ("argon2d", "phc", ARGON2_FAST, "argon2d"),
    ("bcrypt", "phc", {"rounds": 4}, "bcrypt"),
    ("argon2", "django", ARGON2_FAST, "argon2"),
    ("argon2id", "django", ARGON2_FAST, "argon2"),
    ("pbkdf2_sha256", "django", {"iterations": 1000}, "pbkdf2_sha256"),
    ("pbkdf2_sha1", "django", {"iterations": 1000}, "pbkdf2_sha1"),
    ("bcrypt", "django", {"rounds": 4}, "bcrypt"),
    ("bcrypt_sha256", "django", {"rounds": 4}, "bcrypt_sha256"),
]


@pytest.mark.parametrize(("algorithm", "fmt", "params", "name"), SCHEMES)
def test_round_trip(algorithm: str, fmt: str, params: dict[str, int], name: str) -> None:
    for password in ("correct horse", "pässwörd 😀", b"\x00\xffbytes", ""):
        encoded = hash_password(password, algorithm, format=fmt, **params)
        assert isinstance(encoded, str)
        assert verify_password(encoded, password)
        assert verify_password(encoded.encode(), password)
        assert not verify_password(encoded, "wrong")
        info = identify_hash(encoded)
        assert info["algorithm"] == name
        assert info["format"] == fmt
        assert not needs_rehash(encoded, algorithm, format=fmt, **params)
    assert encoded != hash_password("", algorithm, format=fmt, **params)  # fresh salts


def test_needs_rehash() -> None:
    old = hash_password("pw", **ARGON2_FAST)
    assert needs_rehash(old, time_cost=2, memory_cost=256, parallelism=2)
    assert needs_rehash(old, "argon2i", **ARGON2_FAST)
    assert needs_rehash(old, "argon2", format="django", **ARGON2_FAST)
    assert needs_rehash(old, "bcrypt", rounds=4)
    bc = hash_password("pw", "bcrypt", rounds=4)
    assert not needs_rehash(bc, "bcrypt", rounds=4)
    assert needs_rehash(bc, "bcrypt", rounds=5)
    dj = hash_password("pw", "pbkdf2_sha256", format="django", iterations=1000)
    assert needs_rehash(dj, "pbkdf2_sha256", format="django", iterations=2000)


def test_identify_never_shows_salt_or_hash() -> None:
    encoded = hash_password("pw", salt=b"saltsaltsalt", **ARGON2_FAST)
    info = identify_hash(encoded)
    assert info == {
        "algorithm": "argon2id",
        "format": "phc",
        "params": {
            "type": "argon2",
            "variant": "argon2id",
            "version": 19,
            "time_cost": 1,
            "memory_cost": 256,
            "parallelism": 2,
            "hash_len": 32,
            "salt_len": 12,
        },
    }
    bc = identify_hash(hash_password("pw", "bcrypt", rounds=4))
    assert bc == {
        "algorithm": "bcrypt",
        "format": "phc",
        "params": {"type": "bcrypt", "cost": 4},
        "bcrypt_ident": "2b",
    }


def test_explicit_salt_is_deterministic() -> None:
    a = hash_password("pw", salt=b"0123456789abcdef", **ARGON2_FAST)
    assert a == hash_password("pw", salt=b"0123456789abcdef", **ARGON2_FAST)
    assert a.startswith("$argon2id$v=19$m=256,t=1,p=2$MDEyMzQ1Njc4OWFiY2RlZg$")


def test_passlib_pbkdf2_sha256_verifies() -> None:
    salt, rounds = b"\x01\x02saltsalt\xfe", 2000
    dk = hashlib.pbkdf2_hmac("sha256", b"pw", salt, rounds)

    def ab64(b: bytes) -> str:
        return base64.b64encode(b).decode().rstrip("=").replace("+", ".")

    encoded = f"$pbkdf2-sha256${rounds}${ab64(salt)}${ab64(dk)}"
    assert verify_password(encoded, "pw")
    assert not verify_password(encoded, "px")
    assert identify_hash(encoded)["algorithm"] == "pbkdf2-sha256"
    sha1 = f"$pbkdf2${rounds}${ab64(salt)}${ab64(hashlib.pbkdf2_hmac('sha1', b'pw', salt, rounds))}"
    assert verify_password(sha1, "pw")


def test_bcrypt_72_byte_rule() -> None:
    long = "x" * 100
    with pytest.raises(InvalidArgumentError):
        hash_password(long, "bcrypt", rounds=4)
    # bcrypt_sha256 pre-hashes: no limit, and a different tail matters.
    encoded = hash_password(long, "bcrypt_sha256", format="django", rounds=4)
    assert verify_password(encoded, long)
    assert not verify_password(encoded, "x" * 99 + "y")


def test_native_hasher_properties() -> None:
    h = native.PasswordHasher("pbkdf2_sha1", "django", iterations=5)
    assert h.algorithm == "pbkdf2_sha1"
    assert h.format == "django"
    assert h.params == {"type": "pbkdf2", "digest": "sha1", "iterations": 5}
    assert repr(h) == '<PasswordHasher algorithm="pbkdf2_sha1" format="django">'
    assert native.PasswordHasher().params["memory_cost"] == 65536
    assert native.PasswordHasher("argon2", "django").params["memory_cost"] == 102400


# ---- argon2-cffi-compatible PasswordHasher ------------------------------------------------


def test_argon2_cffi_class() -> None:
    ph = PasswordHasher(**ARGON2_FAST)
    encoded = ph.hash("pw")
    assert encoded.startswith("$argon2id$v=19$m=256,t=1,p=2$")
    assert ph.verify(encoded, "pw") is True
    assert ph.verify(encoded.encode(), b"pw") is True
    with pytest.raises(VerifyMismatchError) as e:
        ph.verify(encoded, "nope")
    assert isinstance(e.value, VerificationError)
    with pytest.raises(InvalidHashError):
        ph.verify(hash_password("pw", "bcrypt", rounds=4), "pw")
    with pytest.raises(InvalidHashError):
        ph.verify("$argon2id$garbage", "pw")
    assert not ph.check_needs_rehash(encoded)
    assert PasswordHasher(time_cost=2, memory_cost=256, parallelism=2).check_needs_rehash(encoded)
    assert (ph.time_cost, ph.memory_cost, ph.parallelism, ph.hash_len, ph.salt_len, ph.type) == (
        1,
        256,
        2,
        32,
        16,
        Type.ID,
    )
    p = extract_parameters(encoded)
    assert PasswordHasher.from_parameters(p).hash("x").startswith("$argon2id$v=19$m=256,t=1,p=2$")
    with pytest.raises(TypeError):
        PasswordHasher(time_cost="1")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        PasswordHasher(type="id")  # type: ignore[arg-type]


def test_argon2_cffi_class_encoding() -> None:
    latin = PasswordHasher(encoding="latin-1", **ARGON2_FAST)
    encoded = latin.hash("pässword")
    assert latin.verify(encoded, "pässword")
    assert verify_password(encoded, "pässword".encode("latin-1"))
    assert not verify_password(encoded, "pässword")


# ---- async twins -----------------------------------------------------------------------------


def test_async_twins_do_not_block_the_loop() -> None:
    async def main() -> tuple[str, bool, int]:
        ticks = 0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        start = ticks
        encoded = await ahash_password("pw", time_cost=3, memory_cost=32768, parallelism=1)
        ok = await averify_password(encoded, "pw")
        done.set()
        await task
        return encoded, ok, ticks - start

    encoded, ok, ticks = asyncio.run(main())
    assert ok and verify_password(encoded, "pw")
    assert ticks > 10  # the loop kept running while the hashes ran


def test_async_errors_are_typed() -> None:
    with pytest.raises(InvalidHashError):
        asyncio.run(averify_password("nope", "pw"))
    with pytest.raises(InvalidArgumentError):
        asyncio.run(ahash_password("pw", "md5"))


def test_memory_budget_can_be_read_and_changed():
    from bastion.exceptions import InvalidArgumentError
    from bastion.password import memory_budget, set_memory_budget_kib

    budget, in_use = memory_budget()
    assert budget == 1024 * 1024 and in_use == 0
    before = set_memory_budget_kib(4096)
    try:
        assert before == budget
        # A hash larger than the whole budget is refused at once, never waits.
        with pytest.raises(InvalidArgumentError):
            PasswordHasher(memory_cost=8192, time_cost=1, parallelism=1).hash("pw")
        small = PasswordHasher(memory_cost=1024, time_cost=1, parallelism=1)
        assert small.hash("pw").startswith("$argon2id$")
    finally:
        set_memory_budget_kib(before)
    with pytest.raises(InvalidArgumentError):
        set_memory_budget_kib(0)
