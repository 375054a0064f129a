"""A circuit breaker shared through a real Redis (standalone and Cluster): breakers of one name on
separate stores (as separate processes have), 64 real processes at the half-open edge, pybreaker
code sharing its state through ``CircuitRedisStorage``, and Redis stopped mid-run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis_harness
from bastion import CircuitBreaker, CircuitOpenError, ManualClock, Store
from bastion.compat import pybreaker
from conftest import Forked

T0 = 1_800_000_000.0
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["redis", "cluster"])
def redis_url(request: pytest.FixtureRequest) -> str:
    fixture = "redis_server" if request.param == "redis" else "redis_cluster"
    return str(request.getfixturevalue(fixture).url)


def eventually(what: str, cond: Callable[[], bool], limit: float = 10.0) -> None:
    """Broadcasts arrive on the engine's I/O thread: wait for one (bounded)."""
    deadline = time.monotonic() + limit
    while not cond():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.002)


def process(url: str, prefix: str, clock: ManualClock, **options: object) -> CircuitBreaker:
    """A breaker on a store of its own: another process's view."""
    store = Store(url, timeout=2.0, prefix=prefix, clock=clock)
    return CircuitBreaker(  # type: ignore[misc]
        "identify", fail_max=3, reset_timeout=60, success_threshold=2, store=store, **options
    )


def fail(b: CircuitBreaker) -> str | None:
    return b.acquire().failure()


def test_a_trip_in_one_process_opens_it_for_the_others(redis_url: str, redis_prefix: str) -> None:
    clock = ManualClock(T0)
    a = process(redis_url, redis_prefix, clock)
    events: list[dict[str, object]] = []
    b = process(redis_url, redis_prefix, clock, on_event=events.append)
    assert a.stats()["mode"] == "shared"
    assert fail(a) is None
    assert fail(b) is None
    assert fail(a) == "open"
    eventually("b sees it open", lambda: b.state == "open")
    with pytest.raises(CircuitOpenError) as e:
        b.call(lambda: None)
    assert e.value.retry_after == 60.0
    eventually("b's listener told", lambda: any(ev["event"] == "circuit_open" for ev in events))
    # Two probes of two processes close it for everyone.
    clock.advance(60)
    assert a.acquire().success() is None
    assert b.acquire().success() == "closed"
    eventually("a sees it closed", lambda: a.state == "closed")
    assert a.call(lambda: 7) == 7


def test_successes_are_batched_and_a_rate_window_counts_every_process(
    redis_url: str, redis_prefix: str
) -> None:
    clock = ManualClock(T0)
    opts = {"failure_rate": 0.5, "window_calls": 10, "minimum_calls": 4}
    a = process(redis_url, redis_prefix, clock, **opts)
    b = process(redis_url, redis_prefix, clock, **opts)
    for _ in range(3):
        a.call(lambda: None)
    clock.advance(0.2)  # past flush_interval: the next success sends the batch
    a.call(lambda: None)

    def flushed() -> bool:
        b.sync()
        return b.stats()["window_calls"] == 4

    eventually("a's successes counted", flushed)
    for _ in range(3):
        assert fail(b) is None
    assert fail(b) == "open"


def _python_child(url: str, prefix: str, now: float) -> list[str]:
    script = f"""
import sys
from bastion import CircuitBreaker, ManualClock, Store
store = Store({url!r}, timeout=5.0, prefix={prefix!r}, clock=ManualClock({now!r}))
b = CircuitBreaker("edge", fail_max=3, reset_timeout=60, half_open_max_calls=3, store=store)
print("ready", b.state, flush=True)
sys.stdin.readline()
permit = b.try_acquire()
print("probe" if permit is not None and permit.is_probe else ("granted" if permit else "refused"), flush=True)
sys.stdin.readline()
"""
    return [sys.executable, "-c", script]


def _node_child(url: str, prefix: str, now: float) -> list[str]:
    script = f"""
const {{ CircuitBreaker, ManualClock, Store }} = require(process.env.BASTION_NODE);
const store = new Store({url!r}, {{ timeoutMs: 5000, prefix: {prefix!r} }}, new ManualClock({now!r}));
const b = new CircuitBreaker({{ name: 'edge', failMax: 3, resetTimeout: 60, halfOpenMaxCalls: 3, store }});
console.log('ready', b.state);
let lines = 0;
process.stdin.on('data', () => {{
  lines += 1;
  if (lines === 1) {{
    const permit = b.tryAcquire();
    console.log(permit === null ? 'refused' : permit.isProbe ? 'probe' : 'granted');
  }} else {{
    process.exit(0);
  }}
}});
"""
    return ["node", "-e", script]


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for p in procs:
        p.kill()
        p.wait()


def test_sixty_four_processes_at_the_half_open_edge_get_exactly_the_probe_slots(
    redis_url: str, redis_prefix: str, children: list[subprocess.Popen[str]]
) -> None:
    """32 Python and 32 Node processes, each with its own breaker of one shared name, all asking at
    the moment the open time ends: exactly ``half_open_max_calls`` probes in all."""
    if shutil.which("node") is None or not (ROOT / "node" / "index.js").exists():
        pytest.fail("the Node addon is not built (make build-node)")
    clock = ManualClock(T0)
    store = Store(redis_url, timeout=2.0, prefix=redis_prefix, clock=clock)
    tripper = CircuitBreaker("edge", fail_max=3, reset_timeout=60, half_open_max_calls=3, store=store)
    for _ in range(3):
        tripper.acquire().failure()
    assert tripper.state == "open"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"), BASTION_NODE=str(ROOT / "node"))
    for i in range(64):
        make = _python_child if i % 2 == 0 else _node_child
        children.append(
            subprocess.Popen(
                make(redis_url, redis_prefix, T0 + 60),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
        )
    for p in children:
        assert p.stdout is not None
        line = p.stdout.readline().split()
        assert line == ["ready", "half-open"], line
    # All at once: each asks at the edge.
    for p in children:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    answers = []
    for p in children:
        assert p.stdout is not None
        answers.append(p.stdout.readline().strip())
    assert answers.count("probe") == 3, answers
    assert answers.count("refused") == 61, answers


def test_pybreaker_code_shares_its_state_through_redis_storage(
    redis_server: redis_harness.RedisServer,
) -> None:
    import redis

    client = redis.Redis.from_url(redis_server.url)
    namespace = f"pyb-{time.monotonic_ns()}"

    def storage() -> pybreaker.CircuitRedisStorage:
        return pybreaker.CircuitRedisStorage(pybreaker.STATE_CLOSED, client, namespace)

    one = pybreaker.CircuitBreaker(fail_max=2, reset_timeout=60, state_storage=storage())
    two = pybreaker.CircuitBreaker(fail_max=2, reset_timeout=60, state_storage=storage())

    def boom() -> None:
        raise ValueError("upstream down")

    with pytest.raises(ValueError):
        one.call(boom)
    with pytest.raises(pybreaker.CircuitBreakerError):
        two.call(boom)  # the second failure, in the other breaker, trips the shared state
    eventually("one sees it open", lambda: one.current_state == "open")
    with pytest.raises(pybreaker.CircuitBreakerError):
        one.call(lambda: None)
    two.close()
    eventually("one sees it closed", lambda: one.current_state == "closed")
    # A storage created open starts a fresh breaker open.
    three = pybreaker.CircuitBreaker(
        state_storage=pybreaker.CircuitRedisStorage(pybreaker.STATE_OPEN, redis_server.url, namespace + "-b")
    )
    assert three.current_state == "open"


def test_with_redis_stopped_it_carries_on_alone(fresh_redis_server: redis_harness.RedisServer) -> None:
    clock = ManualClock(T0)
    store = Store(fresh_redis_server.url, timeout=0.1, clock=clock)
    events: list[dict[str, object]] = []
    b = CircuitBreaker("alone", fail_max=2, store=store, on_event=events.append, sync_interval=3600)
    fresh_redis_server.stop()
    started = time.monotonic()
    assert fail(b) is None
    assert time.monotonic() - started < 2.0
    assert b.stats()["mode"] == "fallback"
    assert any(ev["event"] == "store_unavailable" for ev in events)
    assert fail(b) == "open"
    with pytest.raises(CircuitOpenError):
        b.call(lambda: None)
    fresh_redis_server.restart()

    def back() -> bool:
        try:
            b.sync()
        except Exception:
            return False
        return True

    eventually("follows Redis again", back)
    assert b.stats()["mode"] == "shared"
    assert b.state == "closed"


def test_a_clock_goes_to_the_store_not_the_breaker(redis_server: redis_harness.RedisServer) -> None:
    with pytest.raises(Exception, match="store's clock"):
        CircuitBreaker("x", store=Store(redis_server.url), clock=ManualClock(T0))
    # On the memory store, a breaker is this process's own.
    local = CircuitBreaker("x", store=Store(clock=ManualClock(T0)))
    assert local.stats()["mode"] == "local"


def test_async_calls_await_their_round_trips_without_blocking_the_loop(
    fresh_redis_server: redis_harness.RedisServer,
) -> None:
    """A shared breaker's failure report is a round trip: from ``acall`` it is awaited. With Redis
    frozen, the report waits for the store's timeout while the event loop keeps turning."""
    import asyncio

    store = Store(fresh_redis_server.url, timeout=0.6, clock=ManualClock(T0))
    b = CircuitBreaker("async", fail_max=3, store=store, sync_interval=3600)

    async def failing() -> None:
        raise ValueError("down")

    async def ok() -> int:
        return 7

    async def main() -> float:
        assert await b.acall(ok) == 7
        with pytest.raises(ValueError):
            await b.acall(failing)
        assert b.stats()["consecutive_failures"] == 1
        fresh_redis_server.pause()
        gaps: list[float] = []
        stop = False

        async def ticker() -> None:
            last = time.monotonic()
            while not stop:
                await asyncio.sleep(0.01)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        tick = asyncio.create_task(ticker())
        started = time.monotonic()
        with pytest.raises(ValueError):
            await b.acall(failing)
        waited = time.monotonic() - started
        async with b.calling():
            pass  # carrying on alone: no round trip
        stop = True
        await tick
        assert b.stats()["mode"] == "fallback"
        assert waited < 2.0
        return max(gaps)

    try:
        worst = asyncio.run(main())
    finally:
        fresh_redis_server.resume()
    assert worst < 0.3, f"the event loop stalled for {worst:.3f} s"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_worker_listens_for_broadcasts_of_its_own(redis_server: redis_harness.RedisServer) -> None:
    """gunicorn's pre-fork model: the breaker is made in the parent, used in a forked child. The
    child starts its own subscriber (its parent's thread did not survive the fork) and hears a trip
    made elsewhere, with no periodic re-read to help (sync_interval of an hour)."""
    prefix = f"forked-{time.monotonic_ns()}:"
    clock = ManualClock(T0)
    b = CircuitBreaker(
        "forked",
        fail_max=1,
        store=Store(redis_server.url, timeout=2.0, prefix=prefix, clock=clock),
        sync_interval=3600,
    )
    forked = Forked()
    if forked.pid == 0:  # the worker
        code = 1
        try:
            clock.advance(3601)  # its periodic work is due: the next call starts it
            permit = b.try_acquire()
            assert permit is not None
            permit.success()
            time.sleep(0.5)  # subscribed by now
            forked.signal_parent()
            forked.wait_parent()
            deadline = time.monotonic() + 5
            while b.state != "open" and time.monotonic() < deadline:
                time.sleep(0.005)
            code = 0 if b.state == "open" else 2
        finally:
            os._exit(code)
    forked.wait_child()
    other = CircuitBreaker(
        "forked",
        fail_max=1,
        store=Store(redis_server.url, timeout=2.0, prefix=prefix, clock=ManualClock(T0 + 3601)),
    )
    assert other.acquire().failure() == "open"
    forked.signal_child()
    assert forked.exit_code() == 0, "the forked worker never heard of the trip"


def test_the_cache_serves_stale_while_the_shared_breaker_is_open(redis_url: str, redis_prefix: str) -> None:
    """Reference deployment 1's "identify": a cache in front of an upstream guarded by a breaker,
    both shared through Redis. While the breaker is open the upstream is not called and the cache
    serves its stale value (``stale_if_error``); past that, callers get ``CircuitOpenError``."""
    from bastion import Cache

    clock = ManualClock(T0)
    store = Store(redis_url, timeout=2.0, prefix=redis_prefix, clock=clock)
    breaker = CircuitBreaker("identify", fail_max=3, reset_timeout=60, success_threshold=2, store=store)
    cache = Cache(store, namespace="identify", ttl=10, stale_if_error=300)
    calls = []
    up = [True]

    def upstream() -> dict[str, str]:
        calls.append(1)
        if not up[0]:
            raise ConnectionError("upstream down")
        return {"user": "alice"}

    def fetch() -> dict[str, str]:
        return breaker.call(upstream)

    assert cache.get("alice", fetch) == {"user": "alice"}
    up[0] = False
    for _ in range(3):
        clock.advance(11)
        assert cache.get("alice", fetch) == {"user": "alice"}  # stale, the failure counted
    assert breaker.state == "open"
    before = len(calls)
    assert cache.get("alice", fetch) == {"user": "alice"}
    assert len(calls) == before, "the upstream was called while the breaker was open"
    clock.advance(300)
    breaker.open()
    with pytest.raises(CircuitOpenError):
        cache.get("alice", fetch)
    assert len(calls) == before
