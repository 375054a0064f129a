"""RateLimiter from Python: every case on memory, a real Redis and a real Redis Cluster, time from a
ManualClock; exactness under threads, coroutines and processes (Python and Node mixed)."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import redis_harness
from bastion import (
    Decision,
    InvalidArgumentError,
    ManualClock,
    RateLimiter,
    RateLimitExceeded,
    Store,
)
from conftest import NOW, StoreFactory

ROOT = Path(__file__).resolve().parents[2]
ALGORITHMS = ["sliding_window", "sliding_counter", "fixed_window", "gcra"]


def test_exact_window_admits_the_limit_then_says_when(make_store: StoreFactory) -> None:
    clock = ManualClock(NOW)
    rl = RateLimiter("5/15m", store=make_store(clock), name="login")
    assert rl.rates == ["5/15m"]
    assert rl.algorithm == "sliding_window"
    for i in range(5):
        d = rl.check("203.0.113.9")
        assert d and d.allowed
        assert d.remaining == 4 - i
        clock.advance(10)
    d = rl.check("203.0.113.9")
    assert not d
    assert d.denied_by == 0
    assert d.retry_after == pytest.approx(850.0)
    assert d.reset_after == pytest.approx(890.0)
    assert d.rate == "5/15m"
    assert "retry_after=850.000" in repr(d)
    with pytest.raises(RateLimitExceeded) as e:
        rl.hit("203.0.113.9")
    assert e.value.retry_after == pytest.approx(850.0)
    assert e.value.code == "RATE_LIMITED"
    clock.set(NOW + 899.999999)
    assert not rl.check("203.0.113.9")
    clock.set(NOW + 900)
    assert rl.check("203.0.113.9")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_multi_limit_is_all_or_nothing(make_store: StoreFactory, algorithm: str) -> None:
    clock = ManualClock(NOW)
    rl = RateLimiter("2/second;3/minute", store=make_store(clock), name="multi", algorithm=algorithm)
    assert rl.check("u") and rl.check("u")
    d = rl.check("u")
    assert not d and d.denied_by == 0
    assert rl.peek("u").limits[1].remaining == 1
    clock.advance(2)
    d = rl.check("u")
    assert d and (d.limit, d.remaining) == (3, 0)
    d = rl.check("u")
    assert not d and d.denied_by == 1
    statuses = d.limits
    assert [s.rate for s in statuses] == ["2/second", "3/minute"]
    assert statuses[0].allowed and not statuses[1].allowed
    assert statuses[1].window == 60.0
    assert rl.peek("u").limits[0].remaining == 1


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_peek_refund_reset(make_store: StoreFactory, algorithm: str) -> None:
    clock = ManualClock(NOW)
    rl = RateLimiter("10/hour", store=make_store(clock), algorithm=algorithm)
    assert rl.peek("k", 0).remaining == 10
    assert rl.check("k", 4)
    p = rl.peek("k", 7)
    assert not p.allowed and p.remaining == 6
    rl.refund("k", 3)
    assert rl.peek("k").remaining == 9
    rl.reset("k")
    assert rl.peek("k").remaining == 10


def test_awaitables(make_store: StoreFactory) -> None:
    async def main() -> None:
        clock = ManualClock(NOW)
        rl = RateLimiter("3/minute", store=make_store(clock), name="aio")
        results = await asyncio.gather(*(rl.acheck("a") for _ in range(10)))
        assert sum(d.allowed for d in results) == 3
        p = await rl.apeek("a")
        assert not p.allowed
        await rl.arefund("a")
        assert (await rl.ahit("a")).allowed
        with pytest.raises(RateLimitExceeded):
            await rl.ahit("a")
        await rl.areset("a")
        assert (await rl.apeek("a")).remaining == 3

    asyncio.run(main())


def test_headers() -> None:
    clock = ManualClock(NOW)
    rl = RateLimiter("2/minute;100/hour", store=Store(clock=clock), name="api")
    h = rl.check("k").headers()
    assert h == {
        "X-RateLimit-Limit": "2",
        "X-RateLimit-Remaining": "1",
        "X-RateLimit-Reset": str(int(NOW) + 60),
        "RateLimit-Policy": '"api";q=2;w=60, "api.2";q=100;w=3600',
        "RateLimit": '"api";r=1;t=60',
    }
    clock.advance(0.5)
    rl.check("k")
    d = rl.check("k")
    assert d.retry_after_header() == 60
    assert d.headers()["Retry-After"] == "60"


def test_a_denied_decision_answers_with_the_core_problem() -> None:
    clock = ManualClock(NOW)
    rl = RateLimiter("2/minute;100/hour", store=Store(clock=clock), name="api")
    with pytest.raises(InvalidArgumentError):
        rl.check("k").problem()  # admitted: nothing to answer
    clock.advance(0.5)
    rl.check("k")
    a = rl.check("k").problem()
    assert a.status == 429 and a.code == "RATE_LIMITED"
    assert list(a.headers.items()) == [
        ("X-RateLimit-Limit", "2"),
        ("X-RateLimit-Remaining", "0"),
        ("X-RateLimit-Reset", str(int(NOW) + 61)),
        ("RateLimit-Policy", '"api";q=2;w=60, "api.2";q=100;w=3600'),
        ("RateLimit", '"api";r=0;t=60'),
        ("Retry-After", "60"),
        ("Content-Type", "application/problem+json"),
    ]
    assert a.body == (
        b'{"type":"about:blank","title":"Too Many Requests","status":429,"detail":"too many requests",'
        b'"code":"RATE_LIMITED","retry_after":60,"violated-policies":["api"]}'
    )


def test_bad_input_gives_typed_errors() -> None:
    rl = RateLimiter("5/minute")
    for bad_key in [None, 5, b"bytes", ["x"]]:
        with pytest.raises(TypeError):
            rl.check(bad_key)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        rl.check("")
    with pytest.raises(InvalidArgumentError):
        rl.check("x" * 5000)
    with pytest.raises(InvalidArgumentError):
        rl.check("k", 6)
    with pytest.raises(InvalidArgumentError):
        rl.check("k", 0)
    with pytest.raises(OverflowError):
        rl.check("k", -1)
    for rates in ["", "5/fortnight", "0/minute", "five/minute", "5/minute;" * 20]:
        with pytest.raises(InvalidArgumentError):
            RateLimiter(rates)
    with pytest.raises(TypeError):
        RateLimiter(5)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        RateLimiter("5/minute", algorithm="leaky_bucket")
    with pytest.raises(InvalidArgumentError):
        RateLimiter("5/minute", outage_policy="maybe")
    with pytest.raises(InvalidArgumentError):
        RateLimiter("5/minute", name="a:b")
    assert RateLimiter(["10/minute", "100/hour"]).rates == ["10/minute", "100/hour"]
    # Non-ASCII and hostile keys are escaped, never confused with one another.
    rl = RateLimiter("1/minute")
    for k in ["é", "{x}", "a}b{c", "\x00", "ключ"]:
        assert rl.check(k)
        assert not rl.check(k)


def test_sixteen_threads_admit_exactly_the_limit(make_store: StoreFactory) -> None:
    clock = ManualClock(NOW)
    store = make_store(clock)
    for algorithm in ALGORITHMS:
        rl = RateLimiter("100/minute;150/hour", store=store, name=f"threads-{algorithm}", algorithm=algorithm)
        barrier = threading.Barrier(16)
        counts: list[int] = []
        lock = threading.Lock()

        def worker(rl: RateLimiter = rl, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            n = sum(rl.check("hot").allowed for _ in range(30))
            with lock:
                counts.append(n)

        threads = [threading.Thread(target=worker) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(counts) == 100, (algorithm, counts)


def test_outage_policies_answer_and_report(fresh_redis_server: redis_harness.RedisServer) -> None:
    clock = ManualClock(NOW)
    events: list[dict[str, str]] = []

    def limiter(policy: str) -> RateLimiter:
        store = Store(fresh_redis_server.url, prefix=f"rl-outage-{policy}:", clock=clock)
        return RateLimiter(
            "3/minute", store=store, name="outage", outage_policy=policy, on_event=events.append
        )

    opened, closed, local = limiter("fail_open"), limiter("fail_closed"), limiter("local")
    for rl in (opened, closed, local):
        assert rl.check("k").fallback is None
    fresh_redis_server.stop()
    started = time.monotonic()
    d = opened.check("k")
    assert d.allowed and d.fallback == "fail_open"
    d = closed.check("k")
    assert not d.allowed and d.fallback == "fail_closed" and d.retry_after == 1.0
    assert [local.check("k").allowed for _ in range(5)] == [True, True, True, False, False]
    assert time.monotonic() - started < 7 * 1.0
    assert len(events) == 7
    assert events[1] == {
        "event": "store_unavailable",
        "category": "[STORE]",
        "component": "ratelimit",
        "policy": "fail_closed",
    }


# ---- processes: Python and Node mixed, one Redis ------------------------------------------------


def _python_worker(url: str, prefix: str, name: str, algorithm: str, n: int, barrier: Any, out: Any) -> None:
    rl = RateLimiter(
        "100/hour;300/day", store=Store(url, timeout=5.0, prefix=prefix), name=name, algorithm=algorithm
    )
    barrier.wait()
    out.put(sum(rl.check("shared").allowed for _ in range(n)))


NODE_WORKER = r"""
const { RateLimiter, Store } = require(process.env.BASTION_NODE);
const [url, prefix, name, algorithm, n, start] = process.argv.slice(1);
(async () => {
  const rl = new RateLimiter('100/hour;300/day', {
    store: new Store(url, { prefix, timeoutMs: 5000 }), name, algorithm,
  });
  while (Date.now() < Number(start)) await new Promise((r) => setTimeout(r, 1));
  let admitted = 0;
  const inFlight = [];
  for (let i = 0; i < Number(n); i++) {
    inFlight.push(rl.check('shared').then((d) => { if (d.allowed) admitted++; }));
  }
  await Promise.all(inFlight);
  process.stdout.write(JSON.stringify({ admitted }));
})().catch((e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });
"""


def node_available() -> bool:
    built = any((ROOT / "node").glob("*.node"))
    return shutil.which("node") is not None and built


@pytest.mark.parametrize("backend", ["redis", "cluster"])
@pytest.mark.parametrize("algorithm", ["sliding_window", "gcra"])
def test_python_and_node_processes_share_one_exact_limit(
    request: pytest.FixtureRequest, redis_prefix: str, backend: str, algorithm: str
) -> None:
    if backend == "redis":
        url = request.getfixturevalue("redis_server").url
    else:
        url = request.getfixturevalue("redis_cluster").url
    if not node_available():
        if os.environ.get("CI") in ("true", "1"):
            pytest.fail("the Node addon is not built (make build-node)")
        pytest.skip("the Node addon is not built (make build-node)")
    name = f"mixed-{algorithm}"
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    out = ctx.Queue()
    py = [
        ctx.Process(target=_python_worker, args=(url, redis_prefix, name, algorithm, 80, barrier, out))
        for _ in range(2)
    ]
    for p in py:
        p.start()
    start = int(time.time() * 1000) + 1500
    env = {**os.environ, "BASTION_NODE": str(ROOT / "node")}
    nodes = [
        subprocess.Popen(
            ["node", "-e", NODE_WORKER, url, redis_prefix, name, algorithm, "80", str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for _ in range(2)
    ]
    counts = [out.get(timeout=120) for _ in py]
    for p in py:
        p.join(timeout=60)
    for n in nodes:
        stdout, stderr = n.communicate(timeout=120)
        assert n.returncode == 0, stderr.decode()
        counts.append(json.loads(stdout)["admitted"])
    # 320 attempts from 4 processes in two languages: exactly the limit is admitted.
    assert sum(counts) == 100, counts
    assert all(c >= 0 for c in counts)
    # And both languages see the same state afterwards.
    rl = RateLimiter(
        "100/hour;300/day", store=Store(url, timeout=5.0, prefix=redis_prefix), name=name, algorithm=algorithm
    )
    assert rl.peek("shared").remaining == 0


def test_decision_is_a_plain_value() -> None:
    d = RateLimiter("1/s").check("k")
    assert isinstance(d, Decision)
    assert d.policy == "default"
    assert d.decided_at > 1.7e9
    with pytest.raises(TypeError):
        Decision()  # type: ignore[call-arg]
