"""Hostile requests through Django's test client: every endpoint and header bastion.django reads
(the token views, JWT authentication, the cookie transport, the throttles, the rate-limit
middleware and the lockout) answers a wrong type, a huge value, a nested document, NUL bytes,
lone surrogates or bytes that are not UTF-8 with a 4xx, never a server error (the test client
raises any exception a view lets through), and never echoes megabytes back."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

PW = "a long enough passphrase"
MB = "x" * 1_000_000

# JSON bodies a hostile client sends for a string field.
HOSTILE_VALUES: dict[str, Any] = {
    "null": None,
    "number": 12345,
    "float": 1e308,
    "bool": True,
    "list": ["a", "b"],
    "object": {"a": 1},
    "empty": "",
    "nul": "a\x00b",
    "surrogate": "\ud800",
    "huge": MB,
    "dots": "." * 10_000,
    "token-shaped": "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.",
}
# Raw bodies that are not the JSON the view expects.
RAW_BODIES: dict[str, bytes] = {
    "not-json": b"{username: alice",
    "non-utf8": b'{"username": "\xff\xfe", "password": "x"}',
    "deep-list": b"[" * 100_000 + b"]" * 100_000,
    "deep-object": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "huge-number": b'{"refresh": ' + b"9" * 100_000 + b"}",
    "top-level-list": b'["refresh"]',
    "empty": b"",
}
# Header values (as WSGI gives them: str, latin-1 decoded) a hostile client sends.
HOSTILE_HEADERS: dict[str, str] = {
    "empty": "",
    "no-scheme": "eyJ0eXAiOiJKV1QifQ",
    "scheme-only": "Bearer",
    "two-tokens": "Bearer a b",
    "other-scheme": "Basic YWxpY2U6cHc=",
    "huge": "Bearer " + "A" * 200_000,
    "dots": "Bearer " + "." * 10_000,
    "latin1": "Bearer \xff\xfe\xfd",
    "nul": "Bearer a\x00b",
    "alg-none": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.",
}

ENDPOINTS = {
    "obtain": ("/api/token/", ("username", "password")),
    "refresh": ("/api/token/refresh/", ("refresh",)),
    "verify": ("/api/token/verify/", ("token",)),
    "blacklist": ("/api/token/blacklist/", ("refresh",)),
}


@pytest.fixture
def user(configure: Any) -> User:
    return User.objects.create_user("alice", password=PW)


def assert_refused(r: Any, what: str) -> None:
    assert 400 <= r.status_code < 500, f"{what}: {r.status_code} {r.content[:300]!r}"
    assert len(r.content) < 8192, f"{what}: a {len(r.content)}-byte answer"


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_token_views_refuse_hostile_fields(user: User, endpoint: str) -> None:
    c = Client()
    url, fields = ENDPOINTS[endpoint]
    for label, value in HOSTILE_VALUES.items():
        for field in fields:
            body = {f: PW for f in fields}
            body[field] = value
            r = c.post(url, json.dumps(body), content_type="application/json")
            assert_refused(r, f"{endpoint} {field}={label}")


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_token_views_refuse_hostile_bodies(user: User, endpoint: str) -> None:
    c = Client()
    url, _ = ENDPOINTS[endpoint]
    for label, body in RAW_BODIES.items():
        r = c.post(url, body, content_type="application/json")
        assert_refused(r, f"{endpoint} body={label}")


def test_authentication_refuses_hostile_authorization_headers(user: User) -> None:
    c = Client()
    for label, value in HOSTILE_HEADERS.items():
        r = c.get("/api/me/", HTTP_AUTHORIZATION=value)
        assert_refused(r, f"Authorization={label}")
        assert r.status_code == 401, label
        # The challenge never carries the token back.
        assert len(r.get("WWW-Authenticate", "")) < 256, label


def test_the_cookie_transport_refuses_hostile_cookies(user: User, configure: Any) -> None:
    configure(SIMPLE_JWT={"AUTH_COOKIE": "access_token"})
    for label, value in HOSTILE_HEADERS.items():
        c = Client()
        r = c.get("/api/me/", HTTP_COOKIE=f"access_token={value.removeprefix('Bearer ')}")
        assert_refused(r, f"cookie={label}")


@pytest.mark.parametrize("header", ["X-Forwarded-For", "Forwarded", "X-Real-IP"])
def test_throttles_and_the_middleware_take_hostile_client_addresses(
    user: User, configure: Any, header: str
) -> None:
    # The peer is a trusted proxy, so the forwarding header is read.
    configure({"TRUSTED_PROXIES": ["10.0.0.0/8"], "CLIENT_IP_HEADER": header})
    c = Client()
    meta = "HTTP_" + header.upper().replace("-", "_")
    for label, value in {**HOSTILE_HEADERS, "many": ", ".join(["203.0.113.9"] * 5000)}.items():
        for path in ("/api/anon/", "/api/user/", "/api/scoped/", "/sync/"):
            r = c.get(path, **{meta: value}, REMOTE_ADDR="10.0.0.1")
            assert r.status_code in (200, 401, 429), f"{path} {header}={label}: {r.status_code}"


def test_the_lockout_takes_hostile_usernames(user: User) -> None:
    c = Client()
    # A form carries bytes: percent-encoded ones that are not UTF-8 too.
    forms = {
        "huge": "username=" + "x" * 1_000_000 + "&password=wrong",
        "nul": "username=a%00b&password=wrong",
        "non-utf8": "username=%FF%FE%FD&password=wrong",
        "empty": "username=&password=wrong",
        "repeated": "username=a&username=b&password=wrong",
    }
    for label, body in forms.items():
        r = c.post("/accounts/login/", body, content_type="application/x-www-form-urlencoded")
        assert r.status_code in (401, 403, 423, 429), f"form username={label}: {r.status_code}"
    for label, value in HOSTILE_VALUES.items():
        if not isinstance(value, str):
            continue
        body = json.dumps({"username": value, "password": "wrong"})
        r = c.post("/api/token/", body, content_type="application/json")
        assert_refused(r, f"obtain username={label}")
