"""Django's own hashers with low costs, so interop tests stay quick (same formats)."""

from __future__ import annotations

from django.contrib.auth.hashers import (
    Argon2PasswordHasher,
    BCryptPasswordHasher,
    BCryptSHA256PasswordHasher,
    PBKDF2PasswordHasher,
    PBKDF2SHA1PasswordHasher,
)


class FastPBKDF2(PBKDF2PasswordHasher):
    iterations = 1000


class FastPBKDF2SHA1(PBKDF2SHA1PasswordHasher):
    iterations = 1000


class FastArgon2(Argon2PasswordHasher):
    time_cost = 1
    memory_cost = 256
    parallelism = 2


class FastBCryptSHA256(BCryptSHA256PasswordHasher):
    rounds = 4


class FastBCrypt(BCryptPasswordHasher):
    rounds = 4
