"""bastion.fastapi against real FastAPI apps (TestClient and httpx over ASGI), on the memory store, a
real Redis and a real Redis Cluster, time driven by a ManualClock: rate-limit dependencies and
middleware (exact under concurrency, headers, problem+json), Bearer and cookie authentication,
roles, the login lockout, rotation with reuse detection, the breaker and single-flight helper, and
event-loop lag with Redis frozen."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
import redis_harness
from bastion import (
    CircuitBreaker,
    Key,
    Lockout,
    ManualClock,
    PasswordHasher,
    Store,
    TokenService,
)
from bastion import exceptions as exc
from bastion.cache import Cache
from bastion.fastapi import (
    Guard,
    Problem,
    RateLimit,
    RateLimitMiddleware,
    Rule,
    current_claims,
    problem,
    require_role,
    require_user,
)
from conftest import NOW, StoreFactory
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient

SECRET = "fastapi-test-signing-key-0123456789-abcdefghijkl"
HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
USERS = {"ada": HASHER.hash("correct horse battery staple")}
PROBLEM = "application/problem+json"


class Upstream:
    """A slow, flaky upstream: counts calls, fails while ``failing``."""

    def __init__(self) -> None:
        self.calls = 0
        self.failing = False

    async def __call__(self, n: str) -> dict[str, str]:
        self.calls += 1
        await asyncio.sleep(0.05)
        if self.failing:
            raise ConnectionError("upstream down")
        return {"id": n}


def make_app(store: Store, clock: ManualClock, upstream: Upstream | None = None) -> FastAPI:
    tokens = TokenService(Key.hmac(SECRET), store=store, clock=clock, access_lifetime=300)
    lockout = Lockout(store, failure_limit=3, cooloff=600, clock=clock, parameters=[["username"]])
    guard = Guard(store=store, tokens=tokens, lockout=lockout, trusted_proxies="loopback", cookie="access")
    breaker = CircuitBreaker("identify", fail_max=3, reset_timeout=60, success_threshold=2, clock=clock)
    cache = Cache(store, namespace="identify", ttl=30, stale_if_error=300)
    up = upstream or Upstream()
    app = FastAPI()
    guard.install(app)
    app.add_middleware(
        RateLimitMiddleware,
        guard=guard,
        rules=[
            Rule("5/minute", prefix="/auth/", methods="write", key="ip"),
            Rule("100/minute", methods="read", exempt=lambda c: bool(c and c.get("staff"))),
        ],
    )

    @app.post("/auth/login")
    async def login(request: Request, body: dict[str, str]) -> dict[str, Any]:
        username = body.get("username")
        if not await guard.login(
            request, username, body.get("password", ""), USERS.get(username or ""), hasher=HASHER
        ):
            raise Problem(problem(401, "invalid username or password", code="INVALID_CREDENTIALS"))
        pair = await tokens.aissue_pair(username or "", {"roles": ["admin"] if username == "ada" else []})
        return {"access": pair.access, "refresh": pair.refresh}

    @app.post("/auth/refresh")
    async def refresh(body: dict[str, str]) -> dict[str, str]:
        pair = await tokens.arotate(body["refresh"])
        return {"access": pair.access, "refresh": pair.refresh}

    @app.post("/auth/logout-everywhere")
    async def logout(claims: dict[str, Any] = Depends(require_user)) -> dict[str, bool]:
        await tokens.arevoke_all(claims["sub"])
        return {"ok": True}

    @app.get("/public")
    async def public(claims: dict[str, Any] | None = Depends(current_claims)) -> dict[str, Any]:
        return {"user": claims and claims["sub"]}

    @app.get("/me", dependencies=[Depends(RateLimit("3/minute", key="user"))])
    async def me(claims: dict[str, Any] = Depends(require_user)) -> dict[str, Any]:
        return {"user": claims["sub"]}

    @app.get("/admin")
    async def admin(claims: dict[str, Any] = Depends(require_role("admin"))) -> dict[str, Any]:
        return {"admin": claims["sub"]}

    @app.get("/limited", dependencies=[Depends(RateLimit("10/minute", key=("ip", "route")))])
    async def limited() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/identify/{n}")
    async def identify(n: str) -> dict[str, str]:
        return await guard.upstream(lambda: up(n), breaker=breaker, cache=cache, key=n)

    return app


def client(app: FastAPI, ip: str = "127.0.0.1") -> TestClient:
    return TestClient(app, client=(ip, 50000), raise_server_exceptions=True)


def login(
    c: TestClient, username: str = "ada", password: str = "correct horse battery staple"
) -> httpx.Response:
    return c.post("/auth/login", json={"username": username, "password": password})


def assert_problem(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["code"] == code and body["type"] == "about:blank"
    assert body["title"] and body["detail"]
    return body


def test_login_tokens_roles_and_the_cookie(make_store: StoreFactory) -> None:
    clock = ManualClock(NOW)
    c = client(make_app(make_store(clock), clock))
    r = login(c)
    assert r.status_code == 200, r.text
    tokens = r.json()
    bearer = {"Authorization": f"Bearer {tokens['access']}"}
    assert c.get("/me", headers=bearer).json() == {"user": "ada"}
    assert c.get("/admin", headers=bearer).json() == {"admin": "ada"}
    assert c.get("/public").json() == {"user": None}
    assert c.get("/public", headers=bearer).json() == {"user": "ada"}
    # The cookie transport, when no header is sent.
    with_cookie = client(c.app)  # type: ignore[arg-type]
    with_cookie.cookies.set("access", tokens["access"])
    assert with_cookie.get("/me").json() == {"user": "ada"}
    # No token, a malformed header, a bad token, an expired one: typed 401s, never the token.
    r = c.get("/me")
    assert_problem(r, 401, "NOT_AUTHENTICATED")
    assert r.headers["www-authenticate"] == "Bearer"
    assert_problem(c.get("/me", headers={"Authorization": "Basic abc"}), 401, "MALFORMED_TOKEN")
    tampered = tokens["access"][:-4] + ("AAAA" if not tokens["access"].endswith("AAAA") else "BBBB")
    r = c.get("/me", headers={"Authorization": f"Bearer {tampered}"})
    body = assert_problem(r, 401, "INVALID_SIGNATURE")
    assert tampered not in r.text and 'error="invalid_token"' in r.headers["www-authenticate"]
    assert body["detail"] == "the token's signature is not valid"
    # A refresh token is not an access token.
    assert_problem(
        c.get("/me", headers={"Authorization": f"Bearer {tokens['refresh']}"}), 401, "INVALID_TOKEN_TYPE"
    )
    clock.advance(301)
    assert_problem(c.get("/me", headers=bearer), 401, "TOKEN_EXPIRED")


def test_roles_are_required(make_store: StoreFactory) -> None:
    clock = ManualClock(NOW)
    store = make_store(clock)
    app = make_app(store, clock)
    c = client(app)
    tokens = TokenService(Key.hmac(SECRET), store=store, clock=clock)
    plain = tokens.issue_pair("bob", {"roles": ["viewer"]}).access
    assert_problem(c.get("/admin", headers={"Authorization": f"Bearer {plain}"}), 403, "PERMISSION_DENIED")
    assert_problem(c.get("/admin"), 401, "NOT_AUTHENTICATED")


def test_rotation_reuse_detection_and_logout_everywhere(make_store: StoreFactory) -> None:
    clock = ManualClock(NOW)
    c = client(make_app(make_store(clock), clock))
    first = login(c).json()
    second = c.post("/auth/refresh", json={"refresh": first["refresh"]}).json()
    # The old refresh token again: reuse, and the whole family is revoked.
    assert_problem(c.post("/auth/refresh", json={"refresh": first["refresh"]}), 401, "TOKEN_REUSED")
    assert_problem(c.post("/auth/refresh", json={"refresh": second["refresh"]}), 401, "TOKEN_REVOKED")
    clock.advance(60)  # the middleware allows 5 writes a minute under /auth/
    third = login(c).json()
    bearer = {"Authorization": f"Bearer {third['access']}"}
    clock.advance(0.001)  # the ManualClock stands still otherwise: the mark must follow the login
    assert c.post("/auth/logout-everywhere", headers=bearer).json() == {"ok": True}
    assert_problem(c.get("/me", headers=bearer), 401, "TOKEN_REVOKED")


def test_wrong_passwords_lead_to_a_lockout_with_retry_after(make_store: StoreFactory) -> None:
    clock = ManualClock(NOW)
    c = client(make_app(make_store(clock), clock))
    for _ in range(2):
        assert_problem(login(c, password="wrong"), 401, "INVALID_CREDENTIALS")
    # The failure that reaches the limit locks (django-axes' rule), and so is answered.
    r = login(c, password="wrong")
    body = assert_problem(r, 429, "ACCOUNT_LOCKED")
    assert r.headers["retry-after"] == "600" and body["retry_after"] == 600
    assert_problem(login(c), 429, "ACCOUNT_LOCKED")  # the right password, but locked
    # Unknown users are answered like wrong passwords (no enumeration) and counted the same way.
    clock.advance(60)  # the middleware allows 5 writes a minute under /auth/
    assert_problem(login(c, username="nobody"), 401, "INVALID_CREDENTIALS")
    clock.advance(541)
    assert login(c).status_code == 200


def test_rate_limit_dependency_headers_and_problem(make_store: StoreFactory) -> None:
    clock = ManualClock(NOW)
    c = client(make_app(make_store(clock), clock))
    for i in range(10):
        r = c.get("/limited")
        assert r.status_code == 200
        assert r.headers["x-ratelimit-limit"] == "10"
        assert r.headers["x-ratelimit-remaining"] == str(9 - i)
        assert "ratelimit-policy" in r.headers and "retry-after" not in r.headers
    r = c.get("/limited")
    body = assert_problem(r, 429, "RATE_LIMITED")
    assert r.headers["retry-after"] == "60" and body["retry_after"] == 60
    assert r.headers["x-ratelimit-remaining"] == "0"
    # Another client address has its own budget; the window passes.
    assert client(c.app, ip="127.0.0.2").get("/limited").status_code == 200  # type: ignore[arg-type]
    clock.advance(60)
    assert c.get("/limited").status_code == 200


def test_per_user_limits_follow_the_token_not_the_address(make_store: StoreFactory) -> None:
    clock = ManualClock(NOW)
    store = make_store(clock)
    app = make_app(store, clock)
    tokens = TokenService(Key.hmac(SECRET), store=store, clock=clock)
    ada = {"Authorization": f"Bearer {tokens.issue_pair('ada').access}"}
    bob = {"Authorization": f"Bearer {tokens.issue_pair('bob').access}"}
    statuses = [client(app, ip=f"127.0.0.{i + 1}").get("/me", headers=ada).status_code for i in range(4)]
    assert statuses == [200, 200, 200, 429]  # 3/minute for ada, whatever her address
    assert client(app).get("/me", headers=bob).status_code == 200


def test_middleware_categories_trusted_proxies_and_staff_exemption(make_store: StoreFactory) -> None:
    clock = ManualClock(NOW)
    store = make_store(clock)
    app = make_app(store, clock)
    behind_proxy = client(app)  # 127.0.0.1: a trusted proxy ("loopback")
    # Writes under /auth/: 5/minute per client address, read from X-Forwarded-For behind the proxy.
    for _ in range(5):
        assert (
            behind_proxy.post(
                "/auth/refresh", json={"refresh": "x"}, headers={"X-Forwarded-For": "203.0.113.7"}
            ).status_code
            == 401
        )
    r = behind_proxy.post("/auth/refresh", json={"refresh": "x"}, headers={"X-Forwarded-For": "203.0.113.7"})
    assert_problem(r, 429, "RATE_LIMITED")
    assert r.headers["retry-after"] == "60"
    # Another client behind the same proxy is not affected.
    assert (
        behind_proxy.post(
            "/auth/refresh", json={"refresh": "x"}, headers={"X-Forwarded-For": "203.0.113.8"}
        ).status_code
        == 401
    )
    # An untrusted peer cannot pick its key by spoofing the header: its own address counts.
    direct = client(app, ip="198.51.100.1")
    spoofed = [
        direct.post(
            "/auth/refresh", json={"refresh": "x"}, headers={"X-Forwarded-For": f"192.0.2.{i}"}
        ).status_code
        for i in range(6)
    ]
    assert spoofed == [401] * 5 + [429]
    # Reads: 100/minute, staff exempt; the headers of the tightest rule ride on the answer.
    r = direct.get("/public")
    assert r.status_code == 200 and r.headers["x-ratelimit-limit"] == "100"
    tokens = TokenService(Key.hmac(SECRET), store=store, clock=clock)
    staff = {"Authorization": f"Bearer {tokens.issue_pair('root', {'staff': True}).access}"}
    for _ in range(99):
        direct.get("/public")
    assert_problem(direct.get("/public"), 429, "RATE_LIMITED")
    assert direct.get("/public", headers=staff).status_code == 200
    # A bad token on a rule keyed or exempted by user is answered by the middleware itself.
    assert_problem(
        direct.get("/public", headers={"Authorization": "Bearer not.a.token"}), 401, "MALFORMED_TOKEN"
    )


def test_limits_are_exact_under_concurrency(make_store: StoreFactory) -> None:
    clock = ManualClock(NOW)
    app = make_app(make_store(clock), clock)

    async def burst() -> list[int]:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            answers = await asyncio.gather(*(c.get("/limited") for _ in range(60)))
        return [a.status_code for a in answers]

    statuses = asyncio.run(burst())
    assert statuses.count(200) == 10 and statuses.count(429) == 50


def test_breaker_and_single_flight_for_an_upstream(make_store: StoreFactory) -> None:
    clock = ManualClock(NOW)
    up = Upstream()
    app = make_app(make_store(clock), clock, up)

    async def burst(path: str, n: int) -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            return await asyncio.gather(*(c.get(path) for _ in range(n)))

    # 50 concurrent identical requests: one upstream call.
    answers = asyncio.run(burst("/identify/7", 50))
    assert [a.json() for a in answers] == [{"id": "7"}] * 50
    assert up.calls == 1
    # The upstream fails: 3 failures open the breaker, then calls fail fast with 503.
    up.failing = True
    for n in range(3):
        with pytest.raises(ConnectionError):
            client(app).get(f"/identify/fail-{n}")
    calls = up.calls
    r = client(app).get("/identify/fail-9")
    body = assert_problem(r, 503, "CIRCUIT_OPEN")
    assert r.headers["retry-after"] == "60" and body["retry_after"] == 60
    assert up.calls == calls  # fast-failed: the upstream was not called
    # A cached value past its ttl is served stale while the circuit is open.
    clock.advance(31)
    assert client(app).get("/identify/7").json() == {"id": "7"}


def test_configuration_is_checked() -> None:
    with pytest.raises(exc.InvalidArgumentError):
        Guard(lockout_status=500)
    with pytest.raises(exc.InvalidArgumentError):
        Guard(trusted_proxies="not-a-range")
    with pytest.raises(exc.InvalidArgumentError):
        RateLimit("ten per minute")
    with pytest.raises(exc.InvalidArgumentError):
        RateLimit("10/minute", key="email")
    with pytest.raises(exc.InvalidArgumentError):
        Rule("10/minute", prefix="auth")
    with pytest.raises(exc.InvalidArgumentError):
        Rule("10/minute", methods="sometimes")
    with pytest.raises(exc.InvalidArgumentError):
        require_role()
    app = FastAPI()

    @app.get("/x", dependencies=[Depends(RateLimit("1/minute"))])
    async def x() -> None:
        return None

    with pytest.raises(RuntimeError, match=r"guard\.install\(app\)"):
        client(app).get("/x")


def test_event_loop_stays_responsive_with_redis_frozen(fresh_redis_server: redis_harness.RedisServer) -> None:
    """Every store call is awaited: with Redis frozen (SIGSTOP), requests wait for the store timeout
    and the outage policy answers, while the event loop keeps turning."""
    timeout = 0.3
    clock = ManualClock(NOW)
    store = Store(fresh_redis_server.url, timeout=timeout, prefix="fastapi-lag:", clock=clock)
    app = make_app(store, clock)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 1234))

    async def main() -> tuple[list[int], float, float]:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            assert (await c.get("/limited")).status_code == 200  # connected and warm
            fresh_redis_server.pause()
            lag = 0.0
            stop = asyncio.Event()

            async def ticker() -> None:
                nonlocal lag
                while not stop.is_set():
                    before = time.monotonic()
                    await asyncio.sleep(0.005)
                    lag = max(lag, time.monotonic() - before - 0.005)

            tick = asyncio.create_task(ticker())
            started = time.monotonic()
            answers = await asyncio.gather(*(c.get("/limited") for _ in range(20)))
            took = time.monotonic() - started
            stop.set()
            await tick
            return [a.status_code for a in answers], lag, took

    try:
        statuses, lag, took = asyncio.run(main())
    finally:
        fresh_redis_server.resume()
    # The "local" outage policy answered every request, by this process's own count of the limit.
    assert len(statuses) == 20 and set(statuses) <= {200, 429} and 0 < statuses.count(200) <= 10
    # A blocking call would have stalled the loop for a whole timeout (20 of them in a row).
    assert lag < timeout, f"event-loop lag {lag * 1000:.0f} ms"
    assert took < 20 * timeout, f"{took:.2f} s: the calls waited one after another"


def test_key_functions_long_parts_are_hashed_and_empty_keys_refused(make_store: StoreFactory) -> None:
    clock = ManualClock(NOW)
    store = make_store(clock)
    app = FastAPI()
    Guard(store=store).install(app)

    def from_header(r: Request) -> str:
        return r.headers.get("x-tenant", "")

    @app.get("/t", dependencies=[Depends(RateLimit("2/minute", key=from_header))])
    async def t() -> dict[str, bool]:
        return {"ok": True}

    c = client(app)
    long_a, long_b = "a" * 5000 + "1", "a" * 5000 + "2"
    assert [c.get("/t", headers={"x-tenant": long_a}).status_code for _ in range(3)] == [200, 200, 429]
    # Digests keep long keys apart (and bounded in the store).
    assert c.get("/t", headers={"x-tenant": long_b}).status_code == 200
    assert_problem(c.get("/t"), 500, "INTERNAL")  # an empty key is a programming error, not a shared bucket
