"""JWTAuthentication and the token views through Django's test client, on memory and on Redis:
simplejwt's URLs, bodies and settings; rotation with reuse detection; blacklist, logout-everywhere
and password change revoking tokens; the cookie transport with CSRF; sync (WSGI) and async (ASGI)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from bastion import ManualClock
from bastion.django import tokens
from django.contrib.auth.models import User
from django.test import AsyncClient, Client

PW = "a long enough passphrase"


@pytest.fixture
def user(configure: Any) -> User:
    return User.objects.create_user("alice", password=PW)


def login(client: Client, username: str = "alice", password: str = PW) -> Any:
    return client.post(
        "/api/token/", {"username": username, "password": password}, content_type="application/json"
    )


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def me(client: Client, token: str) -> Any:
    return client.get("/api/me/", **bearer(token))


def refresh(client: Client, token: str) -> Any:
    return client.post("/api/token/refresh/", {"refresh": token}, content_type="application/json")


def test_obtain_pair_and_authenticate(user: User) -> None:
    c = Client()
    r = login(c)
    assert r.status_code == 200 and set(r.json()) == {"refresh", "access"}
    got = me(c, r.json()["access"])
    assert got.status_code == 200
    assert got.json()["username"] == "alice"
    claims = got.json()["claims"]
    assert claims["user_id"] == str(user.pk) and claims["token_type"] == "access"

    bad = login(c, password="wrong password!")
    assert bad.status_code == 401
    assert bad.json() == {"detail": "No active account found with the given credentials"}
    anonymous = c.get("/api/me/")
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"] == 'Bearer realm="api"'
    tampered = me(c, r.json()["access"][:-2] + "AA")
    assert tampered.status_code == 401 and tampered.json()["code"] == "token_not_valid"
    assert me(c, r.json()["refresh"]).status_code == 401  # a refresh token is not an access token
    two_values = c.get("/api/me/", HTTP_AUTHORIZATION="Bearer a b")
    assert two_values.json() == {"detail": "Authorization header must contain two space-delimited values"}


def test_rotation_single_use_and_reuse_revokes_the_family(user: User, clock: ManualClock) -> None:
    c = Client()
    first = login(c).json()
    clock.advance(1)
    second = refresh(c, first["refresh"])
    assert second.status_code == 200 and set(second.json()) == {"access", "refresh"}
    assert me(c, second.json()["access"]).status_code == 200
    reused = refresh(c, first["refresh"])  # a stolen copy of the rotated token
    assert reused.status_code == 401 and reused.json()["code"] == "token_not_valid"
    # ... revoked the whole family: the legitimate client's new tokens are dead too.
    assert me(c, second.json()["access"]).status_code == 401
    assert refresh(c, second.json()["refresh"]).status_code == 401
    assert me(c, first["access"]).status_code == 401


@pytest.mark.committed
def test_concurrent_refreshes_exactly_one_wins(user: User) -> None:
    pair = login(Client()).json()
    statuses: list[int] = []
    barrier = threading.Barrier(12)

    def go() -> None:
        c = Client()
        barrier.wait()
        statuses.append(refresh(c, pair["refresh"]).status_code)

    threads = [threading.Thread(target=go) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] + [401] * 11


def test_without_rotation_refresh_gives_access_only(user: User, configure: Any, clock: ManualClock) -> None:
    configure(
        SIMPLE_JWT={
            "SIGNING_KEY": "Zq7-Xw2_Ec5Rv8Tb1Yn4Um7Ki0Ol3Pp6Aa9Ss2Dd5Ff8Gg1Hh4Jj7Kk0Ll3Zz6Xx9",
            "ROTATE_REFRESH_TOKENS": False,
        }
    )
    c = Client()
    pair = login(c).json()
    clock.advance(1)
    one = refresh(c, pair["refresh"])
    two = refresh(c, pair["refresh"])  # still valid, as in simplejwt
    assert set(one.json()) == {"access"} and two.status_code == 200
    assert me(c, one.json()["access"]).status_code == 200
    # Logout (blacklist) revokes the refresh token's family: access tokens minted from it die too.
    assert (
        c.post(
            "/api/token/blacklist/", {"refresh": pair["refresh"]}, content_type="application/json"
        ).status_code
        == 200
    )
    assert me(c, one.json()["access"]).status_code == 401
    gone = refresh(c, pair["refresh"])
    assert gone.status_code == 401 and gone.json()["detail"] == "Token is blacklisted"


def test_access_expires_after_its_lifetime(user: User, configure: Any, clock: ManualClock) -> None:
    configure(
        SIMPLE_JWT={
            "SIGNING_KEY": "Zq7-Xw2_Ec5Rv8Tb1Yn4Um7Ki0Ol3Pp6Aa9Ss2Dd5Ff8Gg1Hh4Jj7Kk0Ll3Zz6Xx9",
            "ACCESS_TOKEN_LIFETIME": timedelta(minutes=30),
            "LEEWAY": 10,
        }
    )
    c = Client()
    access = login(c).json()["access"]
    clock.advance(30 * 60 + 9)  # inside the leeway
    assert me(c, access).status_code == 200
    clock.advance(2)
    expired = me(c, access)
    assert expired.status_code == 401 and expired.json()["detail"] == "Token is expired"


def test_verify_view(user: User) -> None:
    c = Client()
    pair = login(c).json()
    for token in pair.values():
        assert c.post("/api/token/verify/", {"token": token}, content_type="application/json").json() == {}
    bad = c.post("/api/token/verify/", {"token": pair["access"] + "x"}, content_type="application/json")
    assert bad.status_code == 401
    assert c.post("/api/token/verify/", {}, content_type="application/json").status_code == 400


def test_logout_everywhere_and_password_change(user: User, clock: ManualClock) -> None:
    c = Client()
    phone, laptop = login(c).json(), login(c).json()
    clock.advance(1)
    assert c.post("/api/token/logout-all/", **bearer(phone["access"])).status_code == 200
    for pair in (phone, laptop):
        assert me(c, pair["access"]).status_code == 401
        assert refresh(c, pair["refresh"]).status_code == 401
    clock.advance(1)
    fresh = login(c).json()
    assert me(c, fresh["access"]).status_code == 200

    clock.advance(1)
    user.set_password("another long passphrase")
    user.save()
    assert me(c, fresh["access"]).status_code == 401
    assert refresh(c, fresh["refresh"]).status_code == 401
    clock.advance(1)
    assert login(c).status_code == 401
    assert me(c, login(c, password="another long passphrase").json()["access"]).status_code == 200


def test_hash_upgrade_on_login_is_not_a_password_change(configure: Any, clock: ManualClock) -> None:
    u = User.objects.create_user("bob", password=PW)  # FastPBKDF2, 1000 iterations
    c = Client()
    pair = login(c, "bob").json()
    clock.advance(1)
    configure(
        PASSWORD_HASHERS=[
            "django_suite.test_django_hashers.FastBastionArgon2",
            "django_fast_hashers.FastPBKDF2",
        ]
    )
    old = u.password
    assert login(c, "bob").status_code == 200
    u.refresh_from_db()
    assert u.password != old and u.password.startswith("argon2$")
    assert me(c, pair["access"]).status_code == 200


def test_inactive_user_refused(user: User) -> None:
    c = Client()
    pair = login(c).json()
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert me(c, pair["access"]).json() == {"detail": "User is inactive"}
    assert refresh(c, pair["refresh"]).json() == {"detail": "No active account found for the given token."}
    assert login(c).status_code == 401


def test_simple_jwt_settings_honoured(configure: Any) -> None:
    configure(
        SIMPLE_JWT={
            "SIGNING_KEY": "Zq7-Xw2_Ec5Rv8Tb1Yn4Um7Ki0Ol3Pp6Aa9Ss2Dd5Ff8Gg1Hh4Jj7Kk0Ll3Zz6Xx9",
            "AUTH_HEADER_TYPES": ("JWT",),
            "USER_ID_FIELD": "username",
            "USER_ID_CLAIM": "uid",
            "TOKEN_TYPE_CLAIM": "typ_",
            "AUDIENCE": "api",
            "ISSUER": "https://auth.example",
            "ALGORITHM": "HS512",
        }
    )
    User.objects.create_user("carol", password=PW)
    c = Client()
    access = login(c, "carol").json()["access"]
    claims = tokens.token_service().verify(access)
    assert claims["uid"] == "carol" and claims["typ_"] == "access"
    assert claims["aud"] == "api" and claims["iss"] == "https://auth.example"
    assert c.get("/api/me/", HTTP_AUTHORIZATION=f"JWT {access}").status_code == 200
    assert c.get("/api/me/", **bearer(access)).status_code == 401  # not a configured header type
    assert c.get("/api/me/", **bearer(access))["WWW-Authenticate"] == 'JWT realm="api"'


def test_cookie_transport_with_csrf(user: User, configure: Any, clock: ManualClock) -> None:
    configure(bastion={"JWT_COOKIE": {"SAMESITE": "Strict", "REFRESH_PATH": "/api/token/"}})
    c = Client(enforce_csrf_checks=True)
    r = login(c)
    assert r.status_code == 200 and r.json() == {}  # no token readable by scripts
    access, refresh_cookie = r.cookies["access_token"], r.cookies["refresh_token"]
    for morsel in (access, refresh_cookie):
        assert morsel["httponly"] and morsel["secure"] and morsel["samesite"] == "Strict"
    assert refresh_cookie["path"] == "/api/token/" and access["path"] == "/"
    csrf = r.cookies["csrftoken"].value

    assert c.get("/api/me/").status_code == 200  # the cookie authenticates safe methods
    assert c.post("/api/me/").status_code == 403  # unsafe without the CSRF token
    assert c.post("/api/me/", HTTP_X_CSRFTOKEN=csrf).status_code == 200
    # Refresh from the cookie: CSRF enforced too.
    clock.advance(1)
    assert c.post("/api/token/refresh/").status_code == 403
    rotated = c.post("/api/token/refresh/", HTTP_X_CSRFTOKEN=csrf)
    assert rotated.status_code == 200 and rotated.cookies["refresh_token"].value != refresh_cookie.value
    # Logout clears both cookies and revokes the family.
    out = c.post("/api/token/blacklist/", HTTP_X_CSRFTOKEN=csrf)
    assert out.status_code == 200 and out.cookies["access_token"].value == ""
    c.cookies["access_token"] = access.value
    assert c.get("/api/me/").status_code == 401


def test_cookie_secure_follows_debug(user: User, configure: Any) -> None:
    configure(bastion={"JWT_COOKIE": True}, DEBUG=True)
    r = login(Client())
    assert not r.cookies["access_token"]["secure"] and r.cookies["access_token"]["samesite"] == "Lax"


def test_async_client_asgi(user: User) -> None:
    pair = login(Client()).json()

    async def go() -> tuple[int, int]:
        c = AsyncClient()
        ok = await c.get("/api/me/", headers={"Authorization": f"Bearer {pair['access']}"})
        bad = await c.get("/api/me/", headers={"Authorization": "Bearer x.y.z"})
        return ok.status_code, bad.status_code

    assert async_to_sync(go)() == (200, 401)


def test_rs256_with_simplejwt_keys_and_tokens(configure: Any, clock: ManualClock) -> None:
    from cryptography.hazmat.primitives import serialization as ser
    from cryptography.hazmat.primitives.asymmetric import rsa
    from rest_framework_simplejwt.backends import TokenBackend
    from rest_framework_simplejwt.tokens import AccessToken

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private.private_bytes(
        ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption()
    ).decode()
    public_pem = (
        private.public_key().public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo).decode()
    )
    clock.set(time.time() + 1)  # simplejwt stamps its tokens with the real time (whole seconds)
    configure(SIMPLE_JWT={"ALGORITHM": "RS256", "SIGNING_KEY": private_pem, "VERIFYING_KEY": public_pem})
    u = User.objects.create_user("dora", password=PW)
    c = Client()
    ours = login(c, "dora").json()["access"]
    # simplejwt's claims, signed by simplejwt's backend with these keys (its module-level backend
    # keeps the settings it was first imported with).
    theirs = TokenBackend("RS256", private_pem, public_pem).encode(AccessToken.for_user(u).payload)
    for token in (ours, theirs):
        assert me(c, token).status_code == 200
    assert tokens.token_service().verify(ours)["user_id"] == str(u.pk)
    # An HS256 token made with the public key as the secret (key confusion) is refused.
    forged = bastion_jwt_forgery(public_pem, u.pk)
    assert me(c, forged).status_code == 401


def bastion_jwt_forgery(secret: str, user_id: int) -> str:
    import base64
    import hashlib
    import hmac
    import json

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    now = int(time.time())
    claims = {"user_id": str(user_id), "token_type": "access", "jti": "x" * 16, "iat": now, "exp": now + 300}
    payload = b64(json.dumps(claims).encode())
    signature = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"
