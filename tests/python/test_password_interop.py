"""Hashes interoperate with argon2-cffi, Django's hashers and the bcrypt package, both ways."""

from __future__ import annotations

import argon2
import bastion.password as bpw
import bcrypt
import django
import pytest
from bastion import hash_password, needs_rehash, verify_password
from django.conf import settings

if not settings.configured:
    settings.configure(
        PASSWORD_HASHERS=[
            "django_fast_hashers.FastPBKDF2",
            "django_fast_hashers.FastPBKDF2SHA1",
            "django_fast_hashers.FastArgon2",
            "django_fast_hashers.FastBCryptSHA256",
            "django_fast_hashers.FastBCrypt",
        ]
    )
    django.setup()

from django.contrib.auth.hashers import check_password, get_hasher, identify_hasher, make_password

ARGON2 = {"time_cost": 1, "memory_cost": 256, "parallelism": 2}
PASSWORDS = ["correct horse battery staple", "pässwörd 😀", ""]


# ---- argon2-cffi ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [argon2.Type.ID, argon2.Type.I, argon2.Type.D])
def test_argon2_cffi_both_ways(kind: argon2.Type) -> None:
    theirs = argon2.PasswordHasher(type=kind, **ARGON2)
    ours = bpw.PasswordHasher(type=bpw.Type(kind.value), **ARGON2)
    for pw in PASSWORDS:
        h = theirs.hash(pw)
        assert verify_password(h, pw) and ours.verify(h, pw)
        assert not verify_password(h, pw + "x")
        h = ours.hash(pw)
        assert theirs.verify(h, pw)
        with pytest.raises(argon2.exceptions.VerifyMismatchError):
            theirs.verify(h, pw + "x")
        salt = b"fixed-salt-16byt"
        assert ours.hash(pw, salt=salt) == theirs.hash(pw, salt=salt)
        assert ours.check_needs_rehash(h) == theirs.check_needs_rehash(h) is False
    other = argon2.PasswordHasher(time_cost=2, memory_cost=256, parallelism=2).hash("x")
    assert ours.check_needs_rehash(other) == theirs.check_needs_rehash(other) is True


def test_argon2_cffi_default_parameters_and_parameters() -> None:
    h = argon2.PasswordHasher().hash("pw")
    assert bpw.PasswordHasher().verify(h, "pw")
    assert not bpw.PasswordHasher().check_needs_rehash(h)
    assert not needs_rehash(h)
    ours = bpw.extract_parameters(h)
    theirs = argon2.extract_parameters(h)
    for field in ("version", "salt_len", "hash_len", "time_cost", "memory_cost", "parallelism"):
        assert getattr(ours, field) == getattr(theirs, field)
    assert ours.type.value == theirs.type.value
    assert (bpw.DEFAULT_TIME_COST, bpw.DEFAULT_MEMORY_COST, bpw.DEFAULT_PARALLELISM) == (
        argon2.DEFAULT_TIME_COST,
        argon2.DEFAULT_MEMORY_COST,
        argon2.DEFAULT_PARALLELISM,
    )


# ---- Django -------------------------------------------------------------------------------------

DJANGO = [
    ("pbkdf2_sha256", {"iterations": 1000}),
    ("pbkdf2_sha1", {"iterations": 1000}),
    ("argon2", ARGON2),
    ("bcrypt_sha256", {"rounds": 4}),
    ("bcrypt", {"rounds": 4}),
]


@pytest.mark.parametrize(("algorithm", "params"), DJANGO)
def test_django_both_ways(algorithm: str, params: dict[str, int]) -> None:
    for pw in PASSWORDS:
        if algorithm == "bcrypt" and len(pw.encode()) > 72:
            continue
        theirs = make_password(pw, hasher=algorithm)
        assert theirs.startswith(algorithm + "$")
        assert verify_password(theirs, pw)
        assert not verify_password(theirs, pw + "x")
        ours = hash_password(pw, algorithm, format="django", **params)
        assert identify_hasher(ours).algorithm == algorithm
        assert check_password(pw, ours)
        assert not check_password(pw + "x", ours)
        assert not get_hasher(algorithm).must_update(ours)
        assert not needs_rehash(theirs, algorithm, format="django", **params)


def test_django_identical_output_for_a_given_salt() -> None:
    salt = "abcdefghijklmnopqrstuv"
    assert hash_password("pw", "pbkdf2_sha256", format="django", iterations=1000, salt=salt.encode()) == (
        make_password("pw", salt=salt, hasher="pbkdf2_sha256")
    )
    assert hash_password("pw", "pbkdf2_sha1", format="django", iterations=1000, salt=salt.encode()) == (
        make_password("pw", salt=salt, hasher="pbkdf2_sha1")
    )
    assert hash_password("pw", "argon2", format="django", salt=salt.encode(), **ARGON2) == (
        make_password("pw", salt=salt, hasher="argon2")
    )


def test_django_default_costs() -> None:
    # The real Django hashers' strings verify too (their default costs, read from the string).
    from django.contrib.auth.hashers import BCryptSHA256PasswordHasher, PBKDF2SHA1PasswordHasher

    h = PBKDF2SHA1PasswordHasher().encode("pw", "abcdefghijklmnopqrstuv")
    assert verify_password(h, "pw")
    h = BCryptSHA256PasswordHasher().encode("pw", BCryptSHA256PasswordHasher().salt())
    assert verify_password(h, "pw")


# ---- bcrypt -------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", [b"2b", b"2a"])
def test_bcrypt_package_both_ways(prefix: bytes) -> None:
    for pw in PASSWORDS:
        theirs = bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=4, prefix=prefix))
        assert verify_password(theirs, pw)
        assert verify_password(theirs.decode(), pw.encode())
        assert not verify_password(theirs, pw + "x")
        ours = hash_password(pw, "bcrypt", rounds=4)
        assert ours.startswith("$2b$04$")
        assert bcrypt.checkpw(pw.encode(), ours.encode())
        assert not bcrypt.checkpw((pw + "x").encode(), ours.encode())
    assert needs_rehash(theirs, "bcrypt", rounds=4) is (prefix != b"2b")
