"""The migration test: a project on Django's hashers and djangorestframework-simplejwt (with its
blacklist app) switches to bastion by settings alone. Its users' stored hashes keep verifying, the
tokens simplejwt issued keep working (and those it blacklisted stay refused), on memory and Redis."""

from __future__ import annotations

import time
from typing import Any

from bastion import ManualClock
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.test import Client, override_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

PW = "a long enough passphrase"
JWT = {
    "SIGNING_KEY": "jS8-fK2_qL9xVb4Rt7Np0Wc3Zm6Hd1Ya5Ge8Tu2Io4Pl7Kj0Mn3Bv6Cx9Za1Sd5Fg8Hq",
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
}
BEFORE = {
    "ROOT_URLCONF": "django_suite.simplejwt_urls",
    "PASSWORD_HASHERS": [
        "django_fast_hashers.FastPBKDF2",
        "django_fast_hashers.FastArgon2",
        "django_fast_hashers.FastBCryptSHA256",
    ],
    "AUTHENTICATION_BACKENDS": ["django.contrib.auth.backends.ModelBackend"],
    "REST_FRAMEWORK": {
        "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework_simplejwt.authentication.JWTAuthentication"]
    },
    "SIMPLE_JWT": JWT,
}
# The switch: these settings only.
AFTER = {
    "ROOT_URLCONF": "django_suite.bastion_test_urls",  # path("api/token/", include("bastion.django.urls"))
    "PASSWORD_HASHERS": [
        "django_suite.test_django_hashers.FastBastionArgon2",
        "django_suite.test_django_hashers.FastBastionPBKDF2",
        "django_suite.test_django_hashers.FastBastionBCrypt",
    ],
    "AUTHENTICATION_BACKENDS": [
        "bastion.django.lockout.LockoutBackend",
        "django.contrib.auth.backends.ModelBackend",
    ],
    "REST_FRAMEWORK": {"DEFAULT_AUTHENTICATION_CLASSES": ["bastion.django.authentication.JWTAuthentication"]},
    "SIMPLE_JWT": JWT,  # unchanged
}


def post(c: Client, path: str, body: dict[str, str], **extra: Any) -> Any:
    return c.post(path, body, content_type="application/json", **extra)


def test_switch_from_simplejwt_and_django_hashers(configure: Any) -> None:
    c = Client()
    with override_settings(**BEFORE):
        users = {
            name: User.objects.create(username=name, password=make_password(PW, hasher=hasher))
            for name, hasher in (
                ("pbkdf2", "pbkdf2_sha256"),
                ("argon", "argon2"),
                ("bcrypt", "bcrypt_sha256"),
            )
        }
        issued = {name: post(c, "/api/token/", {"username": name, "password": PW}).json() for name in users}
        assert all(set(p) == {"access", "refresh"} for p in issued.values())
        logged_out = post(c, "/api/token/", {"username": "pbkdf2", "password": PW}).json()
        assert post(c, "/api/token/blacklist/", {"refresh": logged_out["refresh"]}).status_code == 200
        assert BlacklistedToken.objects.count() == 1

    clock = ManualClock(time.time() + 1)  # simplejwt stamped its tokens with the real time
    configure(bastion={"CLOCK": clock})
    with override_settings(**AFTER):
        # simplejwt's access tokens authenticate.
        for name, pair in issued.items():
            got = c.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
            assert got.status_code == 200 and got.json()["username"] == name
        # A refresh token simplejwt issued rotates once into a bastion family, then is spent.
        rotated = post(c, "/api/token/refresh/", {"refresh": issued["argon"]["refresh"]})
        assert rotated.status_code == 200 and set(rotated.json()) == {"access", "refresh"}
        assert post(c, "/api/token/refresh/", {"refresh": issued["argon"]["refresh"]}).status_code == 401
        assert c.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {rotated.json()['access']}").status_code == 200
        # What simplejwt blacklisted stays blacklisted.
        refused = post(c, "/api/token/refresh/", {"refresh": logged_out["refresh"]})
        assert refused.status_code == 401 and refused.json()["detail"] == "Token is blacklisted"
        # Stored hashes verify with bastion's hashers (and are upgraded to the first one on login).
        for i, name in enumerate(users):
            address = f"10.0.0.{i}"
            assert (
                post(c, "/api/token/", {"username": name, "password": PW}, REMOTE_ADDR=address).status_code
                == 200
            )
            assert (
                post(c, "/api/token/", {"username": name, "password": "x"}, REMOTE_ADDR=address).status_code
                == 401
            )
            users[name].refresh_from_db()
            assert users[name].password.startswith("argon2$argon2id$v=19$m=256,t=1,p=2$")
        # A password change revokes the tokens simplejwt issued too (a second later: the mark is
        # compared with their iat, in whole seconds).
        clock.advance(1)
        users["bcrypt"].set_password("another long passphrase")
        users["bcrypt"].save()
        stale = c.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {issued['bcrypt']['access']}")
        assert stale.status_code == 401
