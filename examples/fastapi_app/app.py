"""A FastAPI backend secured by bastion, after reference deployment 2 (a compute marketplace):

- HS256 access tokens of 30 minutes with ``sub`` and ``username``, refresh tokens rotated with reuse
  detection, bcrypt password hashes; register / login / refresh / me / logout-everywhere;
- a sliding-window limiter by category as a middleware: auth endpoints 10/min, writes 30/min,
  reads 100/min per client (admins 200/min), with the ``X-RateLimit-*`` headers and ``Retry-After``;
- the login lockout: 5 failures for one username lock it for 15 minutes;
- ``/identify/{n}``: a slow, flaky upstream called through a circuit breaker (3 failures, 60 s, 2
  successes) and a single-flight cache (concurrent identical requests make one upstream call).

State lives in this process's memory, or in Redis when ``BASTION_REDIS_URL`` is set (then several
processes, and the Node example, share the limits and the lockout). Run it with
``uvicorn app:app --app-dir examples/fastapi_app`` (``UPSTREAM_URL`` names the upstream; ``make
demo`` starts one).
"""

from __future__ import annotations

import os
import secrets
from typing import Annotated, Any

import httpx
from bastion import (
    CircuitBreaker,
    Key,
    Lockout,
    Store,
    TokenPair,
    TokenService,
    hash_password,
    validate_secret,
)
from bastion.cache import Cache
from bastion.fastapi import Guard, Problem, RateLimitMiddleware, Rule, problem, require_role, require_user
from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel, Field

# Production sets JWT_SIGNING_KEY (checked at start-up: length, placeholders, entropy); without it
# this process signs with a random key of its own, so its tokens end with it.
SIGNING_KEY = os.environ.get("JWT_SIGNING_KEY") or secrets.token_urlsafe(48)
validate_secret(SIGNING_KEY)

store = Store(os.environ.get("BASTION_REDIS_URL") or None, timeout=0.5, prefix="example:")
tokens = TokenService(Key.hmac(SIGNING_KEY), store=store, access_lifetime=30 * 60, refresh_lifetime=7 * 86400)
lockout = Lockout(store, failure_limit=5, cooloff="15m", parameters=[["username"]], name="login")
guard = Guard(store=store, tokens=tokens, lockout=lockout, trusted_proxies="loopback")
breaker = CircuitBreaker("identify", fail_max=3, reset_timeout=60, success_threshold=2, store=store)
cache = Cache(store, namespace="identify", ttl=30, stale_if_error=300)
upstream = httpx.AsyncClient(base_url=os.environ.get("UPSTREAM_URL", "http://127.0.0.1:9"), timeout=10)


# The verified claims of the request's access token (401 without one; 403 without the role).
User = Annotated[dict[str, Any], Depends(require_user)]
Admin = Annotated[dict[str, Any], Depends(require_role("admin"))]


def is_admin(claims: dict[str, Any] | None) -> bool:
    return bool(claims and "admin" in claims.get("roles", []))


def not_admin(claims: dict[str, Any] | None) -> bool:
    return not is_admin(claims)


app = FastAPI(title="bastion FastAPI example")
guard.install(app)
app.add_middleware(
    RateLimitMiddleware,
    guard=guard,
    rules=[
        Rule("10/minute", prefix="/auth/", methods="write", name="auth"),
        Rule("30/minute", methods="write", key="user", name="writes", exempt=is_admin),
        Rule("100/minute", prefix="/api/", methods="read", key="user", name="reads", exempt=is_admin),
        Rule("200/minute", prefix="/api/", methods="read", key="user", name="admin-reads", exempt=not_admin),
    ],
)

# Users, as a database would keep them: bcrypt hashes (reference deployment 2's scheme).
USERS: dict[str, dict[str, Any]] = {
    "ada": {"id": "1", "hash": hash_password("correct horse battery staple", "bcrypt"), "roles": ["admin"]},
}


class Credentials(BaseModel):
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=1024)


class Refresh(BaseModel):
    refresh: str = Field(min_length=1, max_length=8192)


def pair_body(pair: TokenPair) -> dict[str, Any]:
    return {"access": pair.access, "refresh": pair.refresh, "token_type": "Bearer", "expires_in": 1800}


@app.get("/health")
async def health() -> dict[str, Any]:
    return {"ok": True, "store": store.kind, "breaker": breaker.state}


@app.post("/auth/register", status_code=201)
async def register(body: Credentials) -> dict[str, str]:
    if body.username in USERS:
        raise Problem(problem(409, "this username is taken", code="USERNAME_TAKEN"))
    if len(body.password) < 14:
        raise Problem(problem(400, "passwords have at least 14 characters", code="WEAK_PASSWORD"))
    hashed = hash_password(body.password, "bcrypt")
    USERS[body.username] = {"id": str(len(USERS) + 1), "hash": hashed, "roles": []}
    return {"username": body.username}


@app.post("/auth/login")
async def login(request: Request, body: Credentials) -> dict[str, Any]:
    user = USERS.get(body.username)
    if not await guard.login(request, body.username, body.password, user and user["hash"]):
        raise Problem(problem(401, "invalid username or password", code="INVALID_CREDENTIALS"))
    assert user is not None
    pair = await tokens.aissue_pair(user["id"], {"username": body.username, "roles": user["roles"]})
    return pair_body(pair)


@app.post("/auth/refresh")
async def refresh(body: Refresh) -> dict[str, Any]:
    return pair_body(await tokens.arotate(body.refresh))


@app.post("/auth/logout-everywhere")
async def logout_everywhere(claims: User) -> dict[str, bool]:
    await tokens.arevoke_all(claims["sub"])
    return {"ok": True}


@app.get("/api/me")
async def me(claims: User) -> dict[str, Any]:
    return {"id": claims["sub"], "username": claims.get("username")}


@app.get("/api/items")
async def items() -> dict[str, Any]:
    return {"items": ["a100", "h100", "l4"]}


@app.get("/api/admin/unlock/{username}")
async def unlock(username: str, claims: Admin) -> dict[str, int]:
    return {"unlocked": await lockout.aunlock(username=username)}


@app.get("/identify/{n}")
async def identify(n: str) -> dict[str, Any]:
    async def call() -> dict[str, Any]:
        r = await upstream.get(f"/identify/{n}")
        r.raise_for_status()
        return dict(r.json())

    try:
        return await guard.upstream(call, breaker=breaker, cache=cache, key=n)
    except httpx.HTTPError:
        # Counted by the breaker; the caller gets a problem, not a stack trace.
        raise Problem(problem(502, "the identification service failed", code="UPSTREAM_FAILED")) from None
