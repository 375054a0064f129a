"""TokenService and Store from Python: every case on memory, a real Redis and a real Redis Cluster."""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis_harness
from bastion import (
    InvalidArgumentError,
    InvalidTokenTypeError,
    Key,
    ManualClock,
    PermissionDeniedError,
    Store,
    StoreUnavailableError,
    TokenAlreadyRotatedError,
    TokenReusedError,
    TokenRevokedError,
    TokenService,
)
from bastion import jwt as pyjwt_compat
from conftest import HMAC_SECRET, NOW, StoreFactory


def service(store: Store, clock: ManualClock | None, **kw: Any) -> TokenService:
    return TokenService(Key.hmac(HMAC_SECRET), store=store, clock=clock, **kw)


def test_pair_verify_rotate_and_reuse(make_store: StoreFactory) -> None:
    clock = ManualClock(NOW)
    events: list[dict[str, str]] = []
    svc = service(make_store(clock), clock, issuer="https://auth.example", on_event=events.append)
    pair = svc.issue_pair(42, {"username": "alice", "roles": ["admin"]})
    assert pair.access_expires_at == NOW + 1800
    assert pair.refresh_expires_at == NOW + 7 * 86400
    assert "eyJ" not in repr(pair)
    claims = svc.verify(pair.access)
    assert claims["sub"] == "42"
    assert claims["roles"] == ["admin"]
    assert claims["token_type"] == "access"
    # The tokens are ordinary JWTs: PyJWT-style verification accepts them too.
    decoded = pyjwt_compat.decode(pair.access, HMAC_SECRET, algorithms=["HS256"], clock=clock)
    assert decoded["jti"] == claims["jti"]

    with pytest.raises(InvalidTokenTypeError):
        svc.verify(pair.refresh)
    assert svc.verify(pair.refresh, kind="refresh")["token_type"] == "refresh"

    clock.advance(60)
    second = svc.rotate(pair.refresh)
    assert second.family == pair.family
    assert svc.verify(second.access)["username"] == "alice"
    with pytest.raises(TokenReusedError):
        svc.rotate(pair.refresh)
    assert events and events[0]["event"] == "token_reuse"
    assert events[0]["category"] == "[SECURITY]"
    assert events[0]["family"] == pair.family
    with pytest.raises(TokenRevokedError):
        svc.verify(second.access)
    with pytest.raises(TokenRevokedError):
        svc.rotate(second.refresh)


def test_fifty_threads_rotating_one_token_produce_one_pair(make_store: StoreFactory) -> None:
    clock = ManualClock(NOW)
    svc = service(make_store(clock), clock, rotation_grace=30)
    pair = svc.issue_pair("dave")
    barrier = threading.Barrier(50)

    def rotate() -> Any:
        barrier.wait()
        try:
            return svc.rotate(pair.refresh)
        except Exception as e:
            return e

    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(lambda _: rotate(), range(50)))
    winners = [r for r in results if not isinstance(r, Exception)]
    assert len(winners) == 1
    assert all(isinstance(r, TokenAlreadyRotatedError) for r in results if isinstance(r, Exception))
    svc.verify(winners[0].access)


def test_fifty_coroutines_rotating_one_token_produce_one_pair(make_store: StoreFactory) -> None:
    clock = ManualClock(NOW)
    svc = service(make_store(clock), clock)
    pair = svc.issue_pair("erin")

    async def main() -> list[Any]:
        return await asyncio.gather(*(svc.arotate(pair.refresh) for _ in range(50)), return_exceptions=True)

    results = asyncio.run(main())
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1
    errors = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(e, TokenRevokedError) for e in errors)  # TokenReusedError is one too
    assert any(isinstance(e, TokenReusedError) for e in errors)


def _rotate_in_process(url: str, prefix: str, refresh: str, barrier: Any, out: Any) -> None:
    svc = TokenService(Key.hmac(HMAC_SECRET), store=Store(url, timeout=5.0, prefix=prefix), rotation_grace=60)
    barrier.wait()
    try:
        svc.rotate(refresh)
        out.put("won")
    except TokenAlreadyRotatedError:
        out.put("already-rotated")
    except Exception as e:
        out.put(f"error: {type(e).__name__}: {e}")


def test_fifty_processes_rotating_one_token_through_redis_produce_one_pair(
    redis_server: redis_harness.RedisServer, redis_prefix: str
) -> None:
    svc = TokenService(Key.hmac(HMAC_SECRET), store=Store(redis_server.url, timeout=5.0, prefix=redis_prefix))
    pair = svc.issue_pair("frank")
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(50)
    out = ctx.Queue()
    procs = [
        ctx.Process(
            target=_rotate_in_process, args=(redis_server.url, redis_prefix, pair.refresh, barrier, out)
        )
        for _ in range(50)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert results.count("won") == 1, results
    assert results.count("already-rotated") == 49, results
    # Outside the grace window a rotated token is reuse: the family dies.
    with pytest.raises(TokenReusedError):
        svc.rotate(pair.refresh)


def test_revocation_and_ownership(make_store: StoreFactory) -> None:
    clock = ManualClock(NOW)
    svc = service(make_store(clock), clock)
    a = svc.issue_pair("gina")
    b = svc.issue_pair("gina")
    with pytest.raises(PermissionDeniedError):
        svc.revoke(a.access, by="mallory")
    with pytest.raises(PermissionDeniedError):
        svc.revoke(a.access)
    svc.revoke(a.access, by="gina")
    with pytest.raises(TokenRevokedError):
        svc.verify(a.access)
    svc.verify(b.access)
    svc.revoke(b.refresh, by="root", admin=True)
    with pytest.raises(TokenRevokedError):
        svc.verify(b.access)
    c = svc.issue_pair("gina")
    clock.advance(0.5)
    svc.revoke_all("gina")
    with pytest.raises(TokenRevokedError):
        svc.verify(c.access)
    clock.advance(0.1)
    d = svc.issue_pair("gina")
    svc.verify(d.access)
    assert svc.revoke_family("gina", d.family) is True
    with pytest.raises(TokenRevokedError):
        svc.verify(d.access)
    assert svc.revoke_family("gina", "no-such-family") is False


def test_async_twins(make_store: StoreFactory) -> None:
    clock = ManualClock(NOW)
    svc = service(make_store(clock), clock)

    async def main() -> None:
        p = await svc.aissue_pair("hank", {"scope": "read"})
        assert (await svc.averify(p.access))["scope"] == "read"
        q = await svc.arotate(p.refresh)
        await svc.arevoke(q.access, by="hank")
        with pytest.raises(TokenRevokedError):
            await svc.averify(q.access)
        clock.advance(1)
        await svc.arevoke_all("hank")
        with pytest.raises(TokenRevokedError):
            await svc.arotate(q.refresh)
        assert await svc.arevoke_family("hank", q.family) is True
        assert await Store().aping() == 0.0

    asyncio.run(main())


def test_redis_down_fails_closed_within_the_timeout(fresh_redis_server: redis_harness.RedisServer) -> None:
    store = Store(fresh_redis_server.url)  # default timeout: 50 ms
    assert store.timeout == pytest.approx(0.05)
    closed = TokenService(Key.hmac(HMAC_SECRET), store=store)
    opened = TokenService(Key.hmac(HMAC_SECRET), store=store, revocation_policy="fail_open")
    pair = closed.issue_pair("ivan")
    closed.verify(pair.access)
    assert store.ping() >= 0.0

    fresh_redis_server.stop()
    for _ in range(3):
        started = time.perf_counter()
        with pytest.raises(StoreUnavailableError):
            closed.verify(pair.access)
        # The bound, with room for a loaded machine's scheduling.
        assert time.perf_counter() - started < 0.5
    assert opened.verify(pair.access)["sub"] == "ivan"
    with pytest.raises(StoreUnavailableError):
        closed.rotate(pair.refresh)

    async def lag_while_down() -> float:
        """The event loop keeps running while awaiting a store that is down."""
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0)
                ticks += 1

        t = asyncio.create_task(ticker())
        started = time.perf_counter()
        with pytest.raises(StoreUnavailableError):
            await closed.averify(pair.access)
        elapsed = time.perf_counter() - started
        t.cancel()
        assert ticks > 0
        return elapsed

    assert asyncio.run(lag_while_down()) < 0.5

    fresh_redis_server.restart()
    deadline = time.monotonic() + 10
    while True:
        try:
            closed.verify(pair.access)
            break
        except StoreUnavailableError:
            assert time.monotonic() < deadline, "the store did not reconnect"
            time.sleep(0.02)


def test_hung_redis_fails_closed_within_the_timeout(fresh_redis_server: redis_harness.RedisServer) -> None:
    store = Store(fresh_redis_server.url)
    svc = TokenService(Key.hmac(HMAC_SECRET), store=store)
    pair = svc.issue_pair("judy")
    fresh_redis_server.pause()
    try:
        for _ in range(3):
            started = time.perf_counter()
            with pytest.raises(StoreUnavailableError):
                svc.verify(pair.access)
            assert time.perf_counter() - started < 0.5
    finally:
        fresh_redis_server.resume()


def test_bad_arguments_get_typed_errors() -> None:
    svc = TokenService(Key.hmac(HMAC_SECRET))
    with pytest.raises(TypeError):
        svc.issue_pair(1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        svc.issue_pair("x", ["not", "a", "mapping"])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        svc.issue_pair("x", {"jti": "mine"})
    with pytest.raises(InvalidArgumentError):
        svc.issue_pair("")
    with pytest.raises(TypeError):
        svc.rotate(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        svc.verify("not-a-token")
    with pytest.raises(InvalidArgumentError):
        TokenService(Key.hmac(HMAC_SECRET), revocation_policy="maybe")
    with pytest.raises(InvalidArgumentError):
        Store("http://example.com")
    with pytest.raises(InvalidArgumentError):
        Store("redis://127.0.0.1:1", timeout=0)
    assert "hunter2" not in repr(Store("redis://user:hunter2@127.0.0.1:1/0"))
    assert Store().kind == "memory"
    assert Store().ping() == 0.0
    assert "HS256" in repr(svc)


def test_local_revocation_cache_is_stale_at_most_its_ttl(make_store: StoreFactory) -> None:
    clock = ManualClock(NOW)
    store = make_store(clock)
    here = service(store, clock, revocation_cache_ttl=5)
    elsewhere = service(store, clock)
    pair = here.issue_pair("nina")
    here.verify(pair.access)
    elsewhere.revoke(pair.access, by="nina")
    clock.advance(4)
    here.verify(pair.access)  # answered from the cache, within its TTL
    clock.advance(1.5)
    with pytest.raises(TokenRevokedError):
        here.verify(pair.access)
    with pytest.raises(InvalidArgumentError):
        service(store, clock, revocation_cache_ttl=61)
