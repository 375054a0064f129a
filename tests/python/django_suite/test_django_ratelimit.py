"""DRF throttles and RateLimitMiddleware through Django's test client, on memory and on Redis:
DEFAULT_THROTTLE_RATES and throttle_scope honoured, exact under concurrent requests, trusted-proxy
aware, 429 with Retry-After and RFC 9457 bodies, headers on admitted responses, sync and async."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from bastion import ManualClock
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.test import AsyncClient, Client

PW = "a long enough passphrase"


def access_for(username: str, **extra: Any) -> dict[str, str]:
    User.objects.create_user(username, password=PW, **extra)
    r = Client().post("/api/token/", {"username": username, "password": PW}, content_type="application/json")
    return {"HTTP_AUTHORIZATION": f"Bearer {r.json()['access']}"}


def codes(client: Client, path: str, n: int, **headers: Any) -> list[int]:
    return [client.get(path, **headers).status_code for _ in range(n)]


def test_anon_throttle(configure: Any, clock: ManualClock) -> None:
    c = Client()
    first = c.get("/api/anon/")
    assert first.status_code == 200
    assert first["X-RateLimit-Limit"] == "5" and first["X-RateLimit-Remaining"] == "4"
    assert first["RateLimit-Policy"] == '"drf.anon";q=5;w=60'
    assert codes(c, "/api/anon/", 5) == [200] * 4 + [429]
    denied = c.get("/api/anon/")
    assert denied.status_code == 429 and denied["Retry-After"] == "60"
    assert "Request was throttled" in denied.json()["detail"]
    clock.advance(59)
    assert c.get("/api/anon/").status_code == 429
    clock.advance(1)
    assert c.get("/api/anon/").status_code == 200
    # Authenticated users are not anonymous.
    assert codes(c, "/api/anon/", 8, **access_for("u1")) == [200] * 8


def test_user_throttle_per_user(configure: Any) -> None:
    c = Client()
    alice, bob = access_for("alice"), access_for("bob")
    assert codes(c, "/api/user/", 11, **alice) == [200] * 10 + [429]
    assert codes(c, "/api/user/", 10, **bob) == [200] * 10
    assert codes(c, "/api/user/", 10) == [200] * 10  # anonymous: by address


def test_scoped_and_quota_throttles(configure: Any) -> None:
    c = Client()
    assert codes(c, "/api/scoped/", 4) == [200] * 3 + [429]
    configure(
        DEBUG=True,
        REST_FRAMEWORK={
            "DEFAULT_AUTHENTICATION_CLASSES": ["bastion.django.authentication.JWTAuthentication"],
            # Reference deployment 1: 10/hour for users in DEBUG (100/hour in production), anonymous stricter.
            "DEFAULT_THROTTLE_RATES": {"identify_user": "10/hour", "identify_anon": "2/hour"},
        },
    )
    assert codes(c, "/api/quota/", 3) == [200, 200, 429]
    assert codes(c, "/api/quota/", 11, **access_for("carol")) == [200] * 10 + [429]


@pytest.mark.parametrize("path", ["/api/anon/", "/sync/"])
def test_exact_under_concurrency(configure: Any, path: str) -> None:
    configure(
        REST_FRAMEWORK={"DEFAULT_THROTTLE_RATES": {"anon": "50/minute"}},
        bastion={"RATELIMIT_RULES": [{"name": "all", "rate": "50/minute", "paths": ["/sync/"]}]},
    )
    admitted: list[int] = []
    barrier = threading.Barrier(16)

    def client_thread() -> None:
        c = Client()
        barrier.wait()
        got = codes(c, path, 10)
        admitted.append(got.count(200))
        assert set(got) <= {200, 429}

    threads = [threading.Thread(target=client_thread) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(admitted) == 50  # 160 concurrent attempts, exactly the rate admitted


def test_client_address_behind_trusted_proxies(configure: Any) -> None:
    c = Client()
    # Untrusted peer: X-Forwarded-For is ignored, so rotating it does not buy more requests.
    spoofed = [c.get("/api/scoped/", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}").status_code for i in range(4)]
    assert spoofed == [200] * 3 + [429]
    configure(bastion={"TRUSTED_PROXIES": ["127.0.0.1"]})
    for client_ip in ("198.51.100.1", "198.51.100.2"):
        got = [
            c.get("/api/scoped/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=client_ip).status_code
            for _ in range(4)
        ]
        assert got == [200] * 3 + [429]


def test_unknown_rate_units_are_refused(configure: Any) -> None:
    configure(REST_FRAMEWORK={"DEFAULT_THROTTLE_RATES": {"anon": "100/dzz"}})
    with pytest.raises(ImproperlyConfigured, match="dzz"):
        Client().get("/api/anon/")


CATEGORIES = [
    {"name": "auth", "rate": "2/minute", "paths": ["/auth/"], "group": "category", "exempt": ["staff"]},
    {
        "name": "writes",
        "rate": "3/minute",
        "methods": "write",
        "paths": ["/sync/", "/async/"],
        "group": "category",
        "exempt": ["staff"],
    },
    {
        "name": "reads",
        "rate": "4/minute",
        "methods": "read",
        "paths": ["/sync/", "/async/"],
        "group": "category",
    },
]


def test_middleware_categories(configure: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture) -> None:
    configure(bastion={"RATELIMIT_RULES": CATEGORIES})
    c = Client()
    with caplog.at_level(logging.INFO, logger="bastion.django"):
        assert codes(c, "/auth/sync/", 3) == [200, 200, 429]
    ours = [r.getMessage() for r in caplog.records if r.name == "bastion.django"]
    assert ours == ["[RATELIMIT] mw.auth denied (2/minute), retry after 60 s"]
    denied = c.get("/auth/sync/")
    assert denied["Content-Type"] == "application/problem+json"
    body = denied.json()
    assert body["status"] == 429 and body["title"] == "Too Many Requests"
    assert body["violated-policies"] == ["mw.auth"] and body["retry_after"] == 60
    assert denied["Retry-After"] == "60" and denied["RateLimit"] == '"mw.auth";r=0;t=60'
    reads = [c.get("/sync/") for _ in range(5)]
    assert [r.status_code for r in reads] == [200] * 4 + [429]
    assert reads[0]["X-RateLimit-Remaining"] == "3"
    writes = [c.post("/sync/").status_code for _ in range(4)]
    assert writes == [200] * 3 + [429]
    staff = access_for("admin", is_staff=True)
    assert codes(c, "/auth/sync/", 5, **staff) == [200] * 5  # staff exempt from auth and writes
    assert [c.post("/sync/", **staff).status_code for _ in range(5)] == [200] * 5
    clock.advance(60)
    assert codes(c, "/auth/sync/", 1) == [200]


def test_middleware_per_user_and_global_all_or_nothing(configure: Any) -> None:
    configure(
        bastion={
            "RATELIMIT_RULES": [
                {"name": "global", "rate": "4/minute", "key": "global", "group": "global"},
                {"name": "reads", "rate": "2/minute", "methods": "read", "key": "user"},
            ]
        }
    )
    c = Client()
    alice = access_for("alice")  # the login POST: global 1
    assert codes(c, "/sync/", 3, **alice) == [200, 200, 429]  # global 3; the denied read gave its unit back
    assert codes(c, "/sync/", 1) == [200]  # anonymous: "reads" counts users only; global 4
    denied = c.post("/sync/")
    assert denied.status_code == 429 and denied["RateLimit"] == '"mw.global";r=0;t=60'


def test_middleware_async_views(configure: Any) -> None:
    configure(bastion={"RATELIMIT_RULES": CATEGORIES})

    async def go() -> list[int]:
        c = AsyncClient()
        return [(await c.get("/async/")).status_code for _ in range(5)] + [
            (await c.get("/auth/sync/")).status_code
        ]

    assert async_to_sync(go)() == [200] * 4 + [429, 200]


def test_throttle_headers_without_rules(configure: Any) -> None:
    r = Client().get("/api/scoped/")
    assert r["RateLimit"] == '"drf.burst";r=2;t=60' and "Retry-After" not in r
