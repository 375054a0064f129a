"""A Python app process for the fault tests (``test_faults.py``): it drives a rate limiter, a lockout,
token verification, a shared circuit breaker and a shared cache against one Redis (or Redis Cluster)
from an asyncio loop, until a line arrives on its stdin, then prints one JSON report.

    python faults_worker.py URL PREFIX TIMEOUT
    python faults_worker.py skew URL PREFIX OFFSET CLOCK START SECONDS

The ``skew`` form is an app host whose clock is ``OFFSET`` seconds off: from ``START`` (seconds since the
epoch, real time) for ``SECONDS`` it checks one shared key of a ``50/4s`` exact limiter as fast as it can,
then prints how many checks were admitted. ``CLOCK`` is ``redis`` (the production setting: no clock given
to the store, so Redis's ``TIME`` decides) or ``host`` (the store is given this host's skewed clock, the
configuration whose over-admissions the test shows as a control).

It prints ``ready`` once its tokens are issued and its loop runs. The report: per operation the
number of calls, the outcomes (``ok``, ``fallback:<policy>``, ``unavailable``, ``open``), the slowest
call; every moment the process saw Redis missing (a fallback, a ``StoreUnavailableError``, a
``store_unavailable`` event: ``degraded``, seconds since the epoch); the calls that raised anything
else (``unexpected``); and the event loop's lag (a 5 ms ticker's worst lateness).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from typing import Any

from bastion import Cache, CircuitBreaker, Key, Lockout, ManualClock, RateLimiter, Store, TokenService
from bastion.exceptions import CircuitOpenError, StoreUnavailableError

TICK = 0.005
# How long a cache caller waits for another computation's lease (see test_faults.CALL_BOUNDS).
CACHE_WAIT = 0.5
# A fixed random test secret (the token checks need a real key, not a placeholder).
SECRET = bytes.fromhex("9f1c2b7e4a5d6c8f0e1b3a2d4c6e8f7a1b2c3d4e5f60718293a4b5c6d7e8f901")


class Report:
    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.outcomes: dict[str, dict[str, int]] = {}
        self.max_latency: dict[str, float] = {}
        self.slowest_at: dict[str, float] = {}
        self.degraded: list[float] = []
        self.unexpected: list[str] = []
        self.max_lag = 0.0
        self.lag_samples = 0

    def record(self, op: str, outcome: str, started: float, latency: float) -> None:
        self.calls[op] = self.calls.get(op, 0) + 1
        counts = self.outcomes.setdefault(op, {})
        counts[outcome] = counts.get(outcome, 0) + 1
        if latency > self.max_latency.get(op, -1.0):
            self.max_latency[op] = latency
            self.slowest_at[op] = started
        if outcome != "ok":
            self.degraded.append(started)

    def on_event(self, event: dict[str, Any]) -> None:
        if event.get("event") == "store_unavailable":
            self.degraded.append(time.time())

    def as_json(self) -> str:
        return json.dumps(
            {
                "lang": "python",
                "pid": os.getpid(),
                "calls": self.calls,
                "outcomes": self.outcomes,
                "max_latency": self.max_latency,
                "slowest_at": self.slowest_at,
                "degraded": self.degraded,
                "unexpected": self.unexpected[:20],
                "unexpected_count": len(self.unexpected),
                "max_lag": self.max_lag,
                "lag_samples": self.lag_samples,
            }
        )


async def main(url: str, prefix: str, timeout: float) -> None:
    report = Report()
    store = Store(url, timeout=timeout, prefix=prefix)
    tag = f"py{os.getpid()}"
    limiter = RateLimiter("10000/hour", store=store, name=f"faults-{tag}", on_event=report.on_event)
    lockout = Lockout(store, failure_limit=1000, cooloff=60, name=f"faults-{tag}", on_event=report.on_event)
    tokens = TokenService(Key.hmac(SECRET), store=store, on_event=report.on_event)
    breaker = CircuitBreaker(f"faults-{tag}", store=store, fail_max=1000, on_event=report.on_event)
    cache = Cache(
        store,
        namespace=f"faults-{tag}",
        ttl=0.2,
        stale_if_error=60,
        wait_timeout=CACHE_WAIT,
        on_event=report.on_event,
    )
    # Issued while Redis is up: a family's state must be in the store before the faults start.
    pair = await tokens.aissue_pair(f"user-{tag}")
    stop = asyncio.Event()

    async def timed(op: str, call: Any) -> None:
        started, t0 = time.time(), time.perf_counter()
        try:
            outcome = await call()
        except StoreUnavailableError:
            outcome = "unavailable"
        except CircuitOpenError:
            outcome = "open"
        except Exception as e:  # anything else is a finding: reported, never swallowed
            outcome = "unexpected"
            report.unexpected.append(f"{started:.3f} {op}: {type(e).__name__}: {e}")
        report.record(op, outcome, started, time.perf_counter() - t0)

    async def ratelimit() -> str:
        d = await limiter.acheck("client")
        return "ok" if d.fallback is None else f"fallback:{d.fallback}"

    async def lockout_failure() -> str:
        await lockout.arecord_failure(username="alice", ip_address="10.0.0.1")
        return "ok"

    async def verify() -> str:
        claims = await tokens.averify(pair.access)
        return "ok" if claims["sub"] == f"user-{tag}" else "wrong-claims"

    async def breaker_call() -> str:
        async def upstream() -> str:
            return "up"

        return "ok" if await breaker.acall(upstream) == "up" else "wrong-value"

    async def cached() -> str:
        async def compute() -> int:
            return 42

        return "ok" if await cache.aget("answer", compute) == 42 else "wrong-value"

    ops = {
        "ratelimit": ratelimit,
        "lockout": lockout_failure,
        "verify": verify,
        "breaker": breaker_call,
        "cache": cached,
    }

    async def drive(op: str) -> None:
        while not stop.is_set():
            await timed(op, ops[op])
            await asyncio.sleep(0.002)

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            t0 = loop.time()
            await asyncio.sleep(TICK)
            report.max_lag = max(report.max_lag, loop.time() - t0 - TICK)
            report.lag_samples += 1

    async def wait_for_stdin() -> None:
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        stop.set()

    tasks = [asyncio.create_task(drive(op)) for op in ops]
    tasks.append(asyncio.create_task(ticker()))
    print("ready", flush=True)
    await wait_for_stdin()
    await asyncio.gather(*tasks)
    print(report.as_json(), flush=True)


SKEW_RATE = "50/4s"


def skewed_host(url: str, prefix: str, offset: float, clock_mode: str, start: float, seconds: float) -> None:
    host_clock = ManualClock(time.time() + offset)
    running = True

    def tick() -> None:  # this host's wall clock: real time plus its skew
        while running:
            host_clock.set(time.time() + offset)
            time.sleep(0.001)

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    store = Store(url, timeout=2.0, prefix=prefix, clock=host_clock if clock_mode == "host" else None)
    limiter = RateLimiter(SKEW_RATE, store=store, name="skew", outage_policy="fail_closed")
    limiter.peek("warm-up", 0)  # connected before the start
    while time.time() < start:
        time.sleep(0.001)
    admitted = checks = 0
    while time.time() < start + seconds:
        d = limiter.check("shared")
        checks += 1
        if d.fallback is not None:
            raise RuntimeError(f"the store did not answer: {d.fallback}")
        admitted += bool(d)
    running = False
    print(
        json.dumps({"pid": os.getpid(), "offset": offset, "admitted": admitted, "checks": checks}), flush=True
    )


if __name__ == "__main__":
    if sys.argv[1] == "skew":
        url, prefix, offset, clock_mode, start, seconds = sys.argv[2:8]
        skewed_host(url, prefix, float(offset), clock_mode, float(start), float(seconds))
    else:
        asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
