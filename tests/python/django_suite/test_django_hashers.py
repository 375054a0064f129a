"""bastion.django.hashers side by side with Django's own hashers: same strings both ways, same
decode / safe_summary / must_update answers, and Django's check_password driving them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from bastion.django import hashers as bh
from django.contrib.auth import hashers as dj
from django.contrib.auth.hashers import check_password, identify_hasher, make_password
from django.contrib.auth.models import User
from django.test import override_settings

PASSWORDS = ["correct horse battery staple", "pässwörd 😀", ""]
SALT = "abcdefghijklmnopqrstuv"


class FastDjangoArgon2(dj.Argon2PasswordHasher):
    time_cost, memory_cost, parallelism = 1, 256, 2


class FastBastionArgon2(bh.Argon2PasswordHasher):
    time_cost, memory_cost, parallelism = 1, 256, 2


class FastDjangoPBKDF2(dj.PBKDF2PasswordHasher):
    iterations = 1000


class FastBastionPBKDF2(bh.PBKDF2PasswordHasher):
    iterations = 1000


class FastDjangoBCrypt(dj.BCryptSHA256PasswordHasher):
    rounds = 4


class FastBastionBCrypt(bh.BCryptSHA256PasswordHasher):
    rounds = 4


def comparable(decoded: dict[str, Any]) -> dict[str, Any]:
    """Django's argon2 ``decode`` holds argon2-cffi's ``Parameters``; bastion's holds its own twin."""
    out = dict(decoded)
    if "params" in out:
        p = out.pop("params")
        out["params"] = (
            p.type.value,
            p.version,
            p.salt_len,
            p.hash_len,
            p.time_cost,
            p.memory_cost,
            p.parallelism,
        )
    return out


PAIRS = [
    (FastDjangoPBKDF2, FastBastionPBKDF2),
    (FastDjangoArgon2, FastBastionArgon2),
    (FastDjangoBCrypt, FastBastionBCrypt),
]


@pytest.mark.parametrize(("theirs_cls", "ours_cls"), PAIRS)
def test_same_algorithm_names_and_both_ways(theirs_cls: Any, ours_cls: Any) -> None:
    theirs, ours = theirs_cls(), ours_cls()
    assert ours.algorithm == theirs.algorithm
    for pw in PASSWORDS:
        made_by_django = theirs.encode(pw, theirs.salt())
        assert ours.verify(pw, made_by_django)
        assert not ours.verify(pw + "x", made_by_django)
        made_by_bastion = ours.encode(pw, ours.salt())
        assert theirs.verify(pw, made_by_bastion)
        assert not theirs.verify(pw + "x", made_by_bastion)
        for encoded in (made_by_django, made_by_bastion):
            assert comparable(ours.decode(encoded)) == comparable(theirs.decode(encoded))
            assert ours.safe_summary(encoded) == theirs.safe_summary(encoded)
            assert ours.must_update(encoded) is theirs.must_update(encoded) is False


@pytest.mark.parametrize(("theirs_cls", "ours_cls"), PAIRS)
def test_byte_identical_for_the_same_salt(theirs_cls: Any, ours_cls: Any) -> None:
    theirs, ours = theirs_cls(), ours_cls()
    salt = theirs.salt()  # Django's form of salt for this hasher (bcrypt: its own salt string)
    for pw in PASSWORDS:
        assert ours.encode(pw, salt) == theirs.encode(pw, salt)


def test_known_vectors_with_django_costs() -> None:
    # Django's own strings for "correct horse battery staple" (docs/passwords.md).
    pbkdf2 = "pbkdf2_sha256$1000000$abcdefghijklmnopqrstuv$ESUkIq3XvMIs+R/ZmdQSkE1EDQIVk18SzognBfgBuPQ="
    argon2 = (
        "argon2$argon2id$v=19$m=102400,t=2,p=8$YWJjZGVmZ2hpamtsbW5vcHFyc3R1dg$"
        "c1VUQUv16l773W3itExDSXltC+IQKDRfkGyByMzPIVM"
    )
    assert bh.PBKDF2PasswordHasher().encode("correct horse battery staple", SALT, 1_000_000) == pbkdf2
    assert bh.Argon2PasswordHasher().encode("correct horse battery staple", SALT) == argon2
    assert bh.Argon2PasswordHasher().verify("correct horse battery staple", argon2)
    assert (
        bh.Argon2PasswordHasher().must_update(argon2)
        is dj.Argon2PasswordHasher().must_update(argon2)
        is False
    )
    assert bh.PBKDF2PasswordHasher.iterations == dj.PBKDF2PasswordHasher.iterations


@pytest.mark.parametrize(("theirs_cls", "ours_cls"), PAIRS)
def test_must_update_follows_costs_and_salt_entropy(theirs_cls: Any, ours_cls: Any) -> None:
    class Stronger(ours_cls):  # type: ignore[misc, valid-type]
        iterations, time_cost, rounds = 2000, 2, 5

    class TheirStronger(theirs_cls):  # type: ignore[misc, valid-type]
        iterations, time_cost, rounds = 2000, 2, 5

    old = theirs_cls().encode("pw", theirs_cls().salt())
    assert Stronger().must_update(old) is TheirStronger().must_update(old) is True
    if ours_cls is not FastBastionBCrypt:  # Django's salts: under 128 bits must be upgraded
        short = theirs_cls().encode("pw", "abcdefghijkl")
        assert ours_cls().must_update(short) is theirs_cls().must_update(short) is True


def test_harden_runtime_does_the_missing_work() -> None:
    ours = FastBastionPBKDF2()
    cheap = bh.PBKDF2PasswordHasher().encode("pw", SALT, 10)
    ours.harden_runtime("pw", cheap)  # runs 990 iterations; must not raise or warn
    FastBastionArgon2().harden_runtime("pw", FastBastionArgon2().encode("pw", SALT))
    bcrypt_old = FastBastionBCrypt().encode("pw", FastBastionBCrypt().salt())

    class Cost5(FastBastionBCrypt):
        rounds = 5

    Cost5().harden_runtime("pw", bcrypt_old)


@pytest.mark.parametrize("ours_cls", [FastBastionPBKDF2, FastBastionArgon2, FastBastionBCrypt])
def test_malformed_hashes_verify_false(ours_cls: Any) -> None:
    ours = ours_cls()
    good = ours.encode("pw", ours.salt())
    for bad in (good[:-3], good.replace("$", "$$", 2), ours.algorithm + "$", "md5$abc$def", good + "x"):
        assert ours.verify("pw", bad) is False
    with pytest.raises(ValueError):
        ours.decode("md5$abc$def")


def test_encode_arguments_are_checked() -> None:
    with pytest.raises(TypeError):
        FastBastionPBKDF2().encode(None, SALT)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        FastBastionPBKDF2().encode("pw", "a$b")
    with pytest.raises(ValueError):
        FastBastionBCrypt().encode("pw", "$2b$04$short")
    with pytest.raises(ValueError):
        FastBastionBCrypt().encode("pw", "$2b$99$" + "a" * 22)


BASTION_HASHERS = [
    "django_suite.test_django_hashers.FastBastionArgon2",
    "django_suite.test_django_hashers.FastBastionPBKDF2",
    "django_suite.test_django_hashers.FastBastionBCrypt",
]
DJANGO_HASHERS = [
    "django_suite.test_django_hashers.FastDjangoPBKDF2",
    "django_suite.test_django_hashers.FastDjangoArgon2",
    "django_suite.test_django_hashers.FastDjangoBCrypt",
]


def test_settings_switch_keeps_stored_hashes_and_upgrades_on_login() -> None:
    with override_settings(PASSWORD_HASHERS=DJANGO_HASHERS):
        users = []
        for i, algorithm in enumerate(("pbkdf2_sha256", "argon2", "bcrypt_sha256")):
            u = User.objects.create(username=f"u{i}", password=make_password("s3cret-pw", hasher=algorithm))
            users.append(u)
    with override_settings(PASSWORD_HASHERS=BASTION_HASHERS):
        for u in users:
            u.refresh_from_db()
            assert isinstance(identify_hasher(u.password), bh._NativeHasher)
            assert not u.check_password("wrong")
            old = u.password
            assert u.check_password("s3cret-pw")
            u.refresh_from_db()
            # The preferred hasher is bastion's argon2: the others are upgraded on login.
            assert u.password.startswith("argon2$")
            assert (u.password == old) is old.startswith("argon2$")
        assert make_password("pw").startswith("argon2$argon2id$v=19$m=256,t=1,p=2$")
    with override_settings(PASSWORD_HASHERS=DJANGO_HASHERS[1:]):
        # ... and Django's own hashers read what bastion wrote.
        for u in users:
            assert check_password("s3cret-pw", u.password)


def test_async_check_password() -> None:
    async def check(encoded: str) -> tuple[bool, bool]:
        return await dj.acheck_password("pw", encoded), await dj.acheck_password("nope", encoded)

    with override_settings(PASSWORD_HASHERS=BASTION_HASHERS):
        assert asyncio.run(check(make_password("pw"))) == (True, False)
