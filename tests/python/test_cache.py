"""bastion.Cache: one computation across threads, coroutines and processes (Python and Node mixed)
through a real Redis, fencing, takeover after a killed leader, the freshness rules driven by a
ManualClock, and the in-process fallback when Redis stops."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import pickle
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import redis_harness
from bastion import BastionError, Cache, InvalidArgumentError, ManualClock, Store
from bastion.exceptions import CircuitOpenError, ExpiredSignatureError
from conftest import NOW, Forked, StoreFactory

ROOT = Path(__file__).resolve().parents[2]


def test_one_computation_for_many_threads_and_the_value_is_kept() -> None:
    cache = Cache(ttl=60)
    calls = []
    barrier = threading.Barrier(50)

    def upstream() -> dict[str, int]:
        calls.append(1)
        time.sleep(0.2)
        return {"n": 1}

    results: list[Any] = []

    def caller() -> None:
        barrier.wait()
        results.append(cache.get("k", upstream))

    threads = [threading.Thread(target=caller) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert results == [{"n": 1}] * 50
    assert cache.get("k", upstream) == {"n": 1}
    assert len(calls) == 1
    stats = cache.stats()
    assert stats["computations"] == 1 and stats["hits"] >= 1


def test_aget_coalesces_coroutines_and_accepts_plain_callables() -> None:
    cache = Cache()
    calls = []

    async def upstream() -> list[int]:
        calls.append(1)
        await asyncio.sleep(0.1)
        return [1, 2]

    async def main() -> list[Any]:
        return await asyncio.gather(*(cache.aget("k", upstream) for _ in range(100)))

    assert asyncio.run(main()) == [[1, 2]] * 100
    assert len(calls) == 1
    assert asyncio.run(cache.aget("plain", lambda: "x")) == "x"


def test_errors_reach_the_caller_and_are_not_kept() -> None:
    cache = Cache()

    def boom() -> None:
        raise ValueError("secret detail")

    with pytest.raises(ValueError, match="secret detail"):
        cache.get("k", boom)
    assert cache.get("k", lambda: 5) == 5


def _leader_and_follower(failure: BaseException) -> list[BaseException]:
    """A leader whose computation raises ``failure`` while a follower of the same process waits;
    the errors both got."""
    cache = Cache()
    started = threading.Event()
    release = threading.Event()

    def slow_boom() -> None:
        started.set()
        release.wait(5)
        raise failure

    errors: list[BaseException] = []

    def leader() -> None:
        try:
            cache.get("k", slow_boom)
        except BaseException as e:
            errors.append(e)

    def follower() -> None:
        try:
            cache.get("k", lambda: "never")
        except BaseException as e:
            errors.append(e)

    t1 = threading.Thread(target=leader)
    t1.start()
    started.wait(5)
    t2 = threading.Thread(target=follower)
    t2.start()
    while cache.waiting("k") == 0:
        time.sleep(0.005)
    release.set()
    t1.join()
    t2.join()
    return errors


def test_in_process_waiters_of_a_failed_computation_get_an_error_naming_its_type() -> None:
    errors = _leader_and_follower(KeyError("k"))
    kinds = sorted(type(e).__name__ for e in errors)
    assert kinds == ["BastionError", "KeyError"]
    follower_error = next(e for e in errors if type(e) is BastionError)
    assert "KeyError" in str(follower_error) and "'k'" not in str(follower_error)


def test_waiters_of_a_computation_that_met_an_outage_get_the_outage() -> None:
    # An open circuit met by the caller computing is the waiters' too: they get it, with its delay
    # (a web integration answers them 503 with Retry-After, as it answers the leader).
    errors = _leader_and_follower(CircuitOpenError("circuit breaker is open", retry_after=30.0))
    assert [type(e) for e in errors] == [CircuitOpenError, CircuitOpenError]
    assert [e.retry_after for e in errors] == [30.0, 30.0]
    # A failure bound to the computing caller (its token) is not theirs.
    errors = _leader_and_follower(ExpiredSignatureError("the token has expired"))
    assert sorted(type(e).__name__ for e in errors) == ["BastionError", "ExpiredSignatureError"]


def test_nothing_found_is_kept_only_with_negative_ttl(clock: ManualClock) -> None:
    plain = Cache(Store(clock=clock))
    calls = []
    assert plain.get("k", lambda: calls.append(1)) is None
    assert plain.get("k", lambda: calls.append(1)) is None
    assert len(calls) == 2
    neg = Cache(Store(clock=clock), negative_ttl=5)
    assert neg.get("k", lambda: calls.append(1)) is None
    assert neg.get("k", lambda: calls.append(1)) is None
    assert len(calls) == 3
    clock.advance(5.1)
    neg.get("k", lambda: calls.append(1))
    assert len(calls) == 4


def test_serializers_json_by_default_pickle_only_when_asked() -> None:
    with pytest.raises(TypeError):
        Cache().get("k", lambda: {1, 2})  # a set is not JSON
    assert Cache(serializer="pickle").get("k", lambda: {1, 2}) == {1, 2}

    class Upper:
        @staticmethod
        def dumps(v: Any) -> bytes:
            return pickle.dumps(v)

        @staticmethod
        def loads(b: bytes) -> Any:
            return pickle.loads(b)

    assert Cache(serializer=Upper()).get("k", lambda: (1, 2)) == (1, 2)
    with pytest.raises(TypeError):
        Cache(serializer="yaml")


def test_bad_input_is_refused() -> None:
    with pytest.raises(InvalidArgumentError):
        Cache().get("k" * 2000, lambda: 1)
    with pytest.raises(InvalidArgumentError):
        Cache(namespace="a:b")
    with pytest.raises(InvalidArgumentError):
        Cache(ttl=0)
    with pytest.raises(InvalidArgumentError):
        Cache(max_value_bytes=4).get("k", lambda: "much too long")


def test_freshness_rules_on_every_backend(make_store: StoreFactory) -> None:
    clock = ManualClock(NOW)
    a = Cache(make_store(clock), ttl=10, stale_while_revalidate=5, stale_if_error=20, xfetch_beta=0)
    b = Cache(make_store(clock), ttl=10, stale_while_revalidate=5, stale_if_error=20, xfetch_beta=0)
    assert a.get("k", lambda: "v1") == "v1"
    assert b.get("k", lambda: "other") == "v1"
    clock.advance(11)
    # Stale: while one caller (another "process") revalidates, b gets the stale value at once.
    seen: list[Any] = []

    def revalidate() -> str:
        seen.append(b.get("k", lambda: "never"))
        return "v2"

    assert a.get("k", revalidate) == "v2"
    assert seen == ["v1"]
    clock.advance(11)

    def fail() -> str:
        raise RuntimeError("down")

    # Past stale-while-revalidate, within stale-if-error: a failure answers with the stale value.
    assert a.get("k", fail) == "v2"
    clock.advance(30)
    with pytest.raises(RuntimeError):
        a.get("k", fail)


def test_a_paused_leader_cannot_overwrite_the_newer_value(make_store: StoreFactory) -> None:
    clock = ManualClock(NOW)
    events: list[dict[str, str]] = []
    a = Cache(make_store(clock), lease_ttl=30, on_event=events.append)
    b = Cache(make_store(clock), lease_ttl=30)

    def paused() -> str:
        # The leader stalls past its lease; meanwhile another process takes over and writes.
        clock.advance(31)
        assert b.get("k", lambda: "new") == "new"
        return "old"

    assert a.get("k", paused) == "old"  # the stalled caller keeps its own result ...
    assert a.stats()["fills_refused"] == 1  # ... but it was not stored
    assert {"event": "lease_lost", "category": "[LOCK]", "component": "singleflight"} in events
    assert a.get("k", lambda: "recomputed") == "new"


def test_with_redis_stopped_calls_fall_back_to_local_single_flight(
    fresh_redis_server: redis_harness.RedisServer,
) -> None:
    events: list[dict[str, str]] = []
    cache = Cache(Store(fresh_redis_server.url, timeout=0.1, prefix="cache-outage:"), on_event=events.append)
    assert cache.get("k", lambda: "up") == "up"
    fresh_redis_server.stop()
    calls = []

    def upstream() -> str:
        calls.append(1)
        time.sleep(0.1)
        return "local"

    started = time.monotonic()
    results: list[Any] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("k2", upstream))) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Every call answered, none waited on Redis beyond its timeout.
    assert results == ["local"] * 20
    assert time.monotonic() - started < 5
    assert len(calls) == 1  # still one computation: in-process single-flight
    assert {
        "event": "store_unavailable",
        "category": "[STORE]",
        "component": "singleflight",
        "policy": "local",
    } in events
    assert cache.stats()["local_fallbacks"] > 0


# ---- processes: Python and Node mixed, one Redis ------------------------------------------------

UPSTREAM_SECONDS = 0.3


def _python_worker(url: str, prefix: str, key: str, callers: int, mode: str, start: float, out: Any) -> None:
    cache = Cache(Store(url, timeout=5.0, prefix=prefix), lease_ttl=10, wait_timeout=30)
    assert cache.ready(10)
    computed = []

    def upstream() -> dict[str, str]:
        computed.append(1)
        time.sleep(UPSTREAM_SECONDS)
        return {"value": "from-python"}

    async def aupstream() -> dict[str, str]:
        computed.append(1)
        await asyncio.sleep(UPSTREAM_SECONDS)
        return {"value": "from-python"}

    time.sleep(max(0.0, start - time.time()))
    if mode == "threads":
        results: list[Any] = []
        threads = [
            threading.Thread(target=lambda: results.append(cache.get(key, upstream))) for _ in range(callers)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:

        async def main() -> list[Any]:
            return await asyncio.gather(*(cache.aget(key, aupstream) for _ in range(callers)))

        results = asyncio.run(main())
    out.put({"computed": len(computed), "values": [r["value"] for r in results]})


NODE_WORKER = r"""
const { SharedCache, Store } = require(process.env.BASTION_NODE);
const [url, prefix, key, callers, start, upstreamMs] = process.argv.slice(1);
(async () => {
  const store = new Store(url, { prefix, timeoutMs: 5000 });
  const cache = new SharedCache(store, { leaseTtl: 10, waitTimeout: 30 });
  if (!(await cache.ready(10000))) throw new Error('not subscribed');
  let computed = 0;
  const upstream = async () => {
    computed++;
    await new Promise((r) => setTimeout(r, Number(upstreamMs)));
    return { value: 'from-node' };
  };
  while (Date.now() < Number(start)) await new Promise((r) => setTimeout(r, 1));
  const results = await Promise.all(Array.from({ length: Number(callers) }, () => cache.get(key, upstream)));
  process.stdout.write(JSON.stringify({ computed, values: results.map((r) => r.value) }));
})().catch((e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });
"""


def node_available() -> bool:
    return shutil.which("node") is not None and any((ROOT / "node").glob("*.node"))


def _need_node() -> None:
    if not node_available():
        if os.environ.get("CI") in ("true", "1"):
            pytest.fail("the Node addon is not built (make build-node)")
        pytest.skip("the Node addon is not built (make build-node)")


def _node_and_url(request: pytest.FixtureRequest, backend: str) -> str:
    """The URL of the shared server or cluster, once the Node addon is known to be built."""
    url: str = request.getfixturevalue("redis_server" if backend == "redis" else "redis_cluster").url
    _need_node()
    return url


@pytest.mark.parametrize("backend", ["redis", "cluster"])
def test_eight_processes_python_and_node_times_100_callers_compute_once(
    request: pytest.FixtureRequest, redis_prefix: str, backend: str
) -> None:
    url = _node_and_url(request, backend)
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    start = time.time() + 6.0
    py = [
        ctx.Process(
            target=_python_worker,
            args=(url, redis_prefix, "hot", 100, "threads" if i % 2 else "asyncio", start, out),
        )
        for i in range(4)
    ]
    for p in py:
        p.start()
    env = {**os.environ, "BASTION_NODE": str(ROOT / "node")}
    nodes = [
        subprocess.Popen(
            [
                "node",
                "-e",
                NODE_WORKER,
                url,
                redis_prefix,
                "hot",
                "100",
                str(int(start * 1000)),
                str(int(UPSTREAM_SECONDS * 1000)),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for _ in range(4)
    ]
    reports = [out.get(timeout=120) for _ in py]
    for p in py:
        p.join(timeout=60)
        assert p.exitcode == 0
    for n in nodes:
        stdout, stderr = n.communicate(timeout=120)
        assert n.returncode == 0, stderr.decode()
        reports.append(json.loads(stdout))
    # 800 callers in 8 processes and two languages: exactly one upstream computation, and every
    # caller got its value.
    assert sum(r["computed"] for r in reports) == 1, reports
    values = [v for r in reports for v in r["values"]]
    assert len(values) == 800
    assert len(set(values)) == 1


def _killed_leader(url: str, prefix: str, computing: Any) -> None:
    cache = Cache(Store(url, timeout=5.0, prefix=prefix), lease_ttl=1.0)

    def upstream() -> str:
        computing.set()
        time.sleep(60)  # killed before this ends
        return "never"

    cache.get("victim", upstream)


def _survivor(url: str, prefix: str, out: Any) -> None:
    cache = Cache(Store(url, timeout=5.0, prefix=prefix), lease_ttl=1.0, wait_timeout=30)
    assert cache.ready(10)
    computed = []

    def upstream() -> str:
        computed.append(1)
        time.sleep(0.1)
        return "survivor"

    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get("victim", upstream))) for _ in range(10)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put({"computed": len(computed), "values": results})


def test_a_killed_leader_is_taken_over_when_its_lease_expires(
    redis_server: redis_harness.RedisServer, redis_prefix: str
) -> None:
    ctx = multiprocessing.get_context("spawn")
    computing = ctx.Event()
    out = ctx.Queue()
    leader = ctx.Process(target=_killed_leader, args=(redis_server.url, redis_prefix, computing))
    leader.start()
    assert computing.wait(60)
    survivors = [ctx.Process(target=_survivor, args=(redis_server.url, redis_prefix, out)) for _ in range(3)]
    for s in survivors:
        s.start()
    time.sleep(0.5)  # the survivors are waiting on the leader's lease
    assert leader.pid is not None
    os.kill(leader.pid, signal.SIGKILL)
    leader.join(timeout=10)
    reports = [out.get(timeout=60) for _ in survivors]
    for s in survivors:
        s.join(timeout=30)
    # One survivor took over after the lease expired; every caller got its value.
    assert sum(r["computed"] for r in reports) == 1, reports
    assert [v for r in reports for v in r["values"]] == ["survivor"] * 30


# ---- the local tier -----------------------------------------------------------------------------


def test_the_local_tier_answers_without_a_round_trip_while_redis_is_frozen(
    fresh_redis_server: redis_harness.RedisServer,
) -> None:
    clock = ManualClock(NOW)
    url = fresh_redis_server.url
    cache = Cache(Store(url, timeout=2.0, prefix="near:", clock=clock), ttl=60, local_ttl=5)
    off = Cache(Store(url, timeout=2.0, prefix="near:", clock=clock), ttl=60, local_ttl=0)
    assert cache.ready(10) and off.ready(10)
    assert cache.get("k", lambda: {"v": 1}) == {"v": 1}
    assert cache.get("k", lambda: "never") == {"v": 1}  # a read from Redis, kept locally
    assert cache.stats()["local_hits"] == 0
    fresh_redis_server.pause()
    try:
        started = time.monotonic()
        # Any round trip would wait for the 2 s timeout, then fall back and compute.
        assert [cache.get("k", lambda: "fallback") for _ in range(50)] == [{"v": 1}] * 50
        assert asyncio.run(cache.aget("k", lambda: "fallback")) == {"v": 1}
        assert time.monotonic() - started < 1.5
    finally:
        fresh_redis_server.resume()
    assert cache.stats()["local_hits"] == 51
    assert cache.stats()["local_fallbacks"] == 0
    assert cache.local_entries() == 1
    # Past local_ttl, the store is asked again; with local_ttl=0, always.
    clock.advance(5)
    assert cache.get("k", lambda: "never") == {"v": 1}
    assert cache.stats()["local_hits"] == 51
    assert off.get("k", lambda: "never") == off.get("k", lambda: "never") == {"v": 1}
    assert off.stats()["local_hits"] == 0 and off.local_entries() == 0


def test_a_memory_store_has_no_local_tier() -> None:
    cache = Cache(local_ttl=5)
    cache.get("k", lambda: 1)
    cache.get("k", lambda: 2)
    assert cache.local_entries() == 0 and cache.stats()["local_hits"] == 0
    with pytest.raises(InvalidArgumentError):
        Cache(local_ttl=86_401)


NODE_HOLDER = r"""
const { SharedCache, Store } = require(process.env.BASTION_NODE);
const readline = require('node:readline');
const [url, prefix] = process.argv.slice(1);
(async () => {
  const cache = new SharedCache(new Store(url, { prefix, timeoutMs: 5000 }), { ttl: 600, localTtl: 600 });
  if (!(await cache.ready(10000))) throw new Error('not subscribed');
  const first = await cache.get('k', () => 'from-node');
  const second = await cache.get('k', () => 'from-node');
  const say = (o) => process.stdout.write(JSON.stringify(o) + '\n');
  say({ first, second, localHits: cache.stats().localHits, entries: cache.localEntries() });
  for await (const line of readline.createInterface({ input: process.stdin })) {
    // Python invalidated and refilled 'k': only the broadcast can have dropped the copy
    // (it would live 600 s otherwise).
    const deadline = Date.now() + 10000;
    let value = await cache.get('k', () => 'from-node');
    while (value !== line && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
      value = await cache.get('k', () => 'from-node');
    }
    say({ value });
  }
})().catch((e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });
"""


@pytest.mark.parametrize("backend", ["redis", "cluster"])
def test_an_invalidation_in_python_drops_the_local_copy_of_a_node_process(
    request: pytest.FixtureRequest, redis_prefix: str, backend: str
) -> None:
    url = _node_and_url(request, backend)
    cache = Cache(Store(url, timeout=5.0, prefix=redis_prefix), ttl=600, local_ttl=600)
    assert cache.ready(10)
    assert cache.get("k", lambda: "v1") == "v1"
    env = {**os.environ, "BASTION_NODE": str(ROOT / "node")}
    node = subprocess.Popen(
        ["node", "-e", NODE_HOLDER, url, redis_prefix],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert node.stdout is not None and node.stdin is not None
        first = json.loads(node.stdout.readline() or "null")
        assert first == {"first": "v1", "second": "v1", "localHits": 1, "entries": 1}, node.stderr
        # Python's own copy goes at once; Node's with the broadcast.
        assert cache.get("k", lambda: "never") == "v1"
        cache.invalidate("k")
        assert cache.local_entries() == 0
        assert cache.get("k", lambda: "v2") == "v2"
        node.stdin.write("v2\n")
        node.stdin.flush()
        assert json.loads(node.stdout.readline() or "null") == {"value": "v2"}
    finally:
        node.kill()
        node.wait(timeout=10)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_worker_starts_with_an_empty_local_tier_and_hears_invalidations(
    redis_server: redis_harness.RedisServer, redis_prefix: str
) -> None:
    """gunicorn's pre-fork model: the parent's copies may predate broadcasts the child never heard,
    so the child starts without them; then it keeps copies of its own, dropped by broadcast."""
    cache = Cache(Store(redis_server.url, timeout=2.0, prefix=redis_prefix), ttl=600, local_ttl=600)
    assert cache.get("k", lambda: "v1") == "v1"
    assert cache.get("k", lambda: "never") == "v1"
    assert cache.local_entries() == 1
    forked = Forked()
    if forked.pid == 0:  # the worker
        code = 1
        try:
            assert cache.local_entries() == 0
            assert cache.ready(10)
            assert cache.get("k", lambda: "never") == "v1"  # from Redis, kept
            assert cache.get("k", lambda: "never") == "v1"
            assert cache.stats()["local_hits"] >= 1 and cache.local_entries() == 1
            forked.signal_parent()
            forked.wait_parent()
            deadline = time.monotonic() + 5
            while cache.local_entries() and time.monotonic() < deadline:
                time.sleep(0.005)
            code = 0 if cache.get("k", lambda: "never") == "v2" else 2
        finally:
            os._exit(code)
    forked.wait_child()
    other = Cache(Store(redis_server.url, timeout=2.0, prefix=redis_prefix), ttl=600)
    other.invalidate("k")
    assert other.get("k", lambda: "v2") == "v2"
    forked.signal_child()
    assert forked.exit_code() == 0, "the forked worker kept a stale copy"
