"""``validate_secret`` and ``check_signing_key_separate``: every refusal reason,
acceptance of values from Python's and Django's generators, and messages that
never contain the secret."""

from __future__ import annotations

import os
import secrets

import pytest
from bastion import (
    BastionError,
    InvalidArgumentError,
    InvalidKeyError,
    WeakSecretError,
    check_signing_key_separate,
    validate_secret,
)
from django.core.management.utils import get_random_secret_key


def refused(secret: str | bytes, purpose: str, reason: str) -> WeakSecretError:
    with pytest.raises(WeakSecretError) as info:
        validate_secret(secret, purpose)
    err = info.value
    assert err.code == "WEAK_SECRET"
    assert reason in str(err)
    text = secret if isinstance(secret, str) else secret.decode("utf-8", "replace")
    assert text not in str(err)
    assert text not in repr(err)
    return err


def test_exception_tree() -> None:
    assert issubclass(WeakSecretError, InvalidKeyError)
    assert issubclass(WeakSecretError, BastionError)
    assert issubclass(WeakSecretError, ValueError)


@pytest.mark.parametrize("_", range(200))
def test_random_values_pass(_: int) -> None:
    validate_secret(secrets.token_urlsafe(32))
    validate_secret(secrets.token_urlsafe(32).encode(), "HS256")
    validate_secret(secrets.token_hex(16), "HS256")
    validate_secret(secrets.token_urlsafe(48), "HS384")
    validate_secret(secrets.token_urlsafe(64), "HS512")
    validate_secret(os.urandom(32), "HS256")
    validate_secret(os.urandom(32), "pepper")
    validate_secret(secrets.token_urlsafe(32), "generic")
    validate_secret(secrets.token_urlsafe(50), "django")
    validate_secret(get_random_secret_key(), "django")


def test_too_short() -> None:
    key = secrets.token_urlsafe(64)
    refused(key[:31], "HS256", "HS256 needs at least 32 bytes")
    refused(key[:47], "HS384", "HS384 needs at least 48 bytes")
    refused(key[:63], "HS512", "HS512 needs at least 64 bytes")
    refused(key[:49], "django", "SECRET_KEY is 49 characters; at least 50")
    refused(key[:31], "pepper", "at least 32")
    refused(key[:31], "generic", "at least 32")
    # Django counts characters: 49 non-ASCII characters are too few.
    refused("é" * 49, "django", "49 characters")


def test_django_rules() -> None:
    refused("django-insecure-" + get_random_secret_key(), "django", 'starts with "django-insecure-"')
    refused("abcd" * 20, "django", "only 4 distinct characters")


@pytest.mark.parametrize(
    "weak",
    [
        "secret" * 10,
        "changeme" * 8,
        "your-256-bit-secret" * 3,
        "django-insecure-" + "x" * 40,
        secrets.token_urlsafe(20) + "CHANGEME" + secrets.token_urlsafe(20),
        secrets.token_urlsafe(20) + "example" + secrets.token_urlsafe(20),
        secrets.token_urlsafe(20) + "placeholder" + secrets.token_urlsafe(20),
    ],
)
def test_placeholders(weak: str) -> None:
    refused(weak, "HS256", "placeholder or example value")


@pytest.mark.parametrize(
    "weak",
    [
        "0123456789" * 5,
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMN",
        "qwertyuiopasdfghjklzxcvbnm1234567890QWERTYUIOPASDF",
        "Tr0ub4dor&3" * 5,
        "my-super-secret-jwt-signing-key-2024-production",
        "".join(secrets.choice("0123456789") for _ in range(32)),
    ],
)
def test_low_entropy(weak: str) -> None:
    refused(weak, "HS256", "low entropy")


def test_few_distinct() -> None:
    refused("a" * 64, "HS256", "only 1 distinct")
    refused("abc" * 30, "django", "only 3 distinct")


def test_key_material() -> None:
    pem = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n"
    refused(pem, "HS256", "key material")


def test_arguments() -> None:
    with pytest.raises(InvalidArgumentError):
        validate_secret(secrets.token_urlsafe(32), "RS256")
    with pytest.raises(InvalidArgumentError):
        validate_secret(os.urandom(5000), "pepper")
    with pytest.raises(TypeError):
        validate_secret(1234, "HS256")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        validate_secret("\ud800" * 40, "HS256")


def test_signing_key_separate() -> None:
    secret_key = get_random_secret_key()
    assert check_signing_key_separate(secrets.token_urlsafe(50), secret_key, production=True)
    assert check_signing_key_separate(secret_key.encode(), secret_key[:-1], production=True)
    # Same key: False in development (warn), an error in production.
    assert check_signing_key_separate(secret_key, secret_key, production=False) is False
    assert check_signing_key_separate(secret_key.encode(), secret_key, production=False) is False
    with pytest.raises(WeakSecretError, match="same as SECRET_KEY") as info:
        check_signing_key_separate(secret_key, secret_key, production=True)
    assert secret_key not in str(info.value)
    with pytest.raises(TypeError):
        check_signing_key_separate(secret_key, secret_key)  # type: ignore[call-arg]
