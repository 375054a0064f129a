"""Rate limiting: bastion's RateLimiter against `limits` and DRF's throttle, in memory and on Redis.

Run with `make bench` (release build; it makes sure redis-server is installed). This script starts its
own redis-server on a free loopback port with the test harness (tests/python/redis_harness.py) and
stops it when it ends. Prints a table and writes bench/results/ratelimit_python.json.

Every case sees the same workload: a limit of 100/minute, and a sequence of client keys (IPv4 addresses
as strings) of which a share goes to one hot key, the rest spread uniformly over many distinct keys. The
hot key soon reaches its limit and is denied from then on; the others are admitted. Every timed run
starts from empty state (a new limiter or a cleared cache in memory, FLUSHALL on Redis) and replays the
same sequence, so every run of every case does the same work. Repeats are interleaved across cases (each
round times every case once) and the best run of each case counts.

1. In memory, one thread, sequential (µs per decision):
   - bastion `RateLimiter.check` (exact sliding window) against limits' `MovingWindowRateLimiter.hit`
     (an exact log) and against DRF's `SimpleRateThrottle.allow_request` (a log of timestamps kept in
     Django's cache, here the in-process locmem cache);
   - bastion's sliding-window counter against limits' `SlidingWindowCounterRateLimiter`;
   - bastion's fixed window against limits' `FixedWindowRateLimiter`, and GCRA (no peer) for context.
2. Redis, one process, asyncio, 64 decisions in flight (decisions per second): bastion `acheck`
   against limits' async Redis storage (`limits.aio`, with each client implementation it supports
   that is installed: coredis, its default, and redis-py's asyncio client). Before timing, each case's
   Redis commands per decision are counted with `INFO commandstats` (after `CONFIG RESETSTAT`).
"""

from __future__ import annotations

import asyncio
import gc
import importlib.metadata
import json
import os
import platform
import random
import resource
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import bastion
import django
import limits
import limits.aio.storage
import limits.aio.strategies
import limits.storage
import limits.strategies
import redis
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "python"))
import redis_harness  # noqa: E402
from store_bench import machine_idle_percent  # noqa: E402

RESULTS = Path(__file__).parent / "results"
RATE = "100/minute"
LIMIT = 100
DISTINCT_KEYS = 10_000
HOT_SHARE = 0.2
HOT_KEY = "203.0.113.7"
MEMORY_OPS = 20_000
MEMORY_REPEATS = 9
REDIS_OPS = 10_000
REDIS_REPEATS = 7
IN_FLIGHT = 64
COUNT_OPS = 1_000
STORE_TIMEOUT = 1.0  # a bound on a call on a shared machine, not a speed setting
TARGET_MEMORY = 10.0  # bastion exact sliding window vs limits' moving window
TARGET_REDIS = 1.5  # bastion vs limits' Redis storage, 64 in flight

# What each algorithm guarantees, for the report (one line each).
GUARANTEES = {
    "sliding_window": "exact: at most the limit in every interval of the window's length (a log)",
    "moving_window": "exact: at most the limit in every interval of the window's length (a log)",
    "drf_log": "a log of admissions in the cache; exact in one thread, but read-then-write, so concurrent "
    "requests can be admitted past the limit (DRF's own documentation)",
    "sliding_counter": "at most the limit per aligned window; the previous window's count is weighted, "
    "up to 2x the limit in the worst case over an unaligned interval",
    "fixed_window": "at most the limit per aligned window; up to 2x across a window boundary",
    "gcra": "bursts of at most the limit, then one unit every window/limit",
}


def workload(n: int, seed: int) -> list[str]:
    """``n`` client keys: ``HOT_SHARE`` of them the hot key, the rest uniform over ``DISTINCT_KEYS``."""
    rng = random.Random(seed)
    pool = [f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}" for i in range(DISTINCT_KEYS)]
    return [HOT_KEY if rng.random() < HOT_SHARE else rng.choice(pool) for _ in range(n)]


def expected_admitted(keys: Sequence[str]) -> int:
    """What an exact limiter admits for ``keys`` (every run fits well inside one window)."""
    return sum(min(c, LIMIT) for c in Counter(keys).values())


def version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


# ---------------------------------------------------------------------------------------------------------
# 1. In memory
# ---------------------------------------------------------------------------------------------------------


def configure_django() -> None:
    """Django in-process with the locmem cache; MAX_ENTRIES large enough that no key's history is culled
    (the default of 300 would make the cache forget clients, and cull a third of them at a time)."""
    settings.configure(
        CACHES={
            "default": {
                "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                "OPTIONS": {"MAX_ENTRIES": 1_000_000},
            }
        },
        INSTALLED_APPS=[],
        USE_TZ=True,
    )
    django.setup()


@dataclass
class MemoryCase:
    name: str
    library: str
    algorithm: str
    # Builds fresh state and returns (decide, argument per key): ``decide(arg)`` returns a truthy
    # value when the request is admitted.
    setup: Callable[[], tuple[Callable[[Any], Any], Callable[[str], Any]]]


def memory_cases() -> list[MemoryCase]:
    from django.core.cache import cache
    from rest_framework.throttling import AnonRateThrottle

    class Throttle(AnonRateThrottle):
        """DRF's anonymous-client throttle (keyed on the client address) at the benchmark's rate."""

        rate = RATE

    anonymous = SimpleNamespace(is_authenticated=False)
    requests: dict[str, SimpleNamespace] = {}

    def request_for(key: str) -> SimpleNamespace:
        # What AnonRateThrottle reads from a request: user, headers (no X-Forwarded-For) and
        # META["REMOTE_ADDR"].
        if key not in requests:
            requests[key] = SimpleNamespace(META={"REMOTE_ADDR": key}, headers={}, user=anonymous)
        return requests[key]

    def ident(key: str) -> str:
        return key

    def ours(algorithm: str) -> Callable[[], tuple[Callable[[Any], Any], Callable[[str], Any]]]:
        def setup() -> tuple[Callable[[Any], Any], Callable[[str], Any]]:
            return bastion.RateLimiter(RATE, algorithm=algorithm).check, ident

        return setup

    def peer(strategy: type[limits.strategies.RateLimiter]) -> Callable[[], tuple[Callable[[Any], Any], Any]]:
        item = limits.parse(RATE)

        def setup() -> tuple[Callable[[Any], Any], Callable[[str], Any]]:
            return partial(strategy(limits.storage.MemoryStorage()).hit, item), ident

        return setup

    def drf() -> tuple[Callable[[Any], Any], Callable[[str], Any]]:
        cache.clear()
        # One throttle instance for every request (DRF builds one per request; reusing it spares the
        # peer that cost), called as DRF's APIView.check_throttles calls it.
        return partial(Throttle().allow_request, view=None), request_for

    return [
        MemoryCase("bastion sliding_window", "bastion", "sliding_window", ours("sliding_window")),
        MemoryCase(
            "limits moving window", "limits", "moving_window", peer(limits.strategies.MovingWindowRateLimiter)
        ),
        MemoryCase("DRF AnonRateThrottle (locmem cache)", "djangorestframework", "drf_log", drf),
        MemoryCase("bastion sliding_counter", "bastion", "sliding_counter", ours("sliding_counter")),
        MemoryCase(
            "limits sliding window counter",
            "limits",
            "sliding_counter",
            peer(limits.strategies.SlidingWindowCounterRateLimiter),
        ),
        MemoryCase("bastion fixed_window", "bastion", "fixed_window", ours("fixed_window")),
        MemoryCase(
            "limits fixed window", "limits", "fixed_window", peer(limits.strategies.FixedWindowRateLimiter)
        ),
        MemoryCase("bastion gcra", "bastion", "gcra", ours("gcra")),
    ]


def timed_loop(decide: Callable[[Any], Any], args: Sequence[Any]) -> float:
    gc.disable()  # as timeit does
    try:
        t0 = time.perf_counter()
        for a in args:
            decide(a)
        return time.perf_counter() - t0
    finally:
        gc.enable()


def memory_benchmarks(keys: list[str]) -> dict[str, Any]:
    cases = memory_cases()
    want = expected_admitted(keys)
    admitted: dict[str, int] = {}
    for c in cases:  # untimed pass: every case decides, and the exact ones agree with the model
        decide, arg = c.setup()
        admitted[c.name] = sum(1 for k in keys if decide(arg(k)))
    for c in cases:
        if c.algorithm in ("sliding_window", "moving_window", "drf_log"):
            assert admitted[c.name] == want, (
                f"{c.name} admitted {admitted[c.name]}, an exact log admits {want}"
            )
    best = [float("inf")] * len(cases)
    for _ in range(MEMORY_REPEATS):
        for i, c in enumerate(cases):
            decide, arg = c.setup()
            args = [arg(k) for k in keys]
            best[i] = min(best[i], timed_loop(decide, args) / len(keys) * 1e6)
    rows = [
        {
            "case": c.name,
            "library": c.library,
            "algorithm": c.algorithm,
            "us": us,
            "admitted": admitted[c.name],
        }
        for c, us in zip(cases, best, strict=True)
    ]
    by = {r["case"]: r for r in rows}
    pairs = [
        pair("exact log", by["bastion sliding_window"], by["limits moving window"]),
        pair(
            "exact log (DRF, single thread)",
            by["bastion sliding_window"],
            by["DRF AnonRateThrottle (locmem cache)"],
        ),
        pair("sliding-window counter", by["bastion sliding_counter"], by["limits sliding window counter"]),
        pair("fixed window", by["bastion fixed_window"], by["limits fixed window"]),
    ]
    print(
        f"\nIn memory, one thread: {len(keys)} decisions per run, limit {RATE}, "
        f"{HOT_SHARE:.0%} to one hot key, the rest over {DISTINCT_KEYS} keys "
        f"(best of {MEMORY_REPEATS} interleaved runs, µs/decision)"
    )
    for r in rows:
        print(f"  {r['case']:<40} {r['us']:>8.3f} µs   admitted {r['admitted']}/{len(keys)}")
    for p in pairs:
        print(f"  {p['pair']:<40} {p['peer']} / bastion = {p['ratio']:.1f}x")
    return {
        "decisions": len(keys),
        "admitted_exact": want,
        "repeats": MEMORY_REPEATS,
        "rows": rows,
        "pairs": pairs,
    }


def pair(name: str, ours: dict[str, Any], peer: dict[str, Any]) -> dict[str, Any]:
    """Peer time over bastion's (µs) or bastion's rate over the peer's (decisions/s)."""
    if "us" in ours:
        ratio = peer["us"] / ours["us"]
        return {"pair": name, "bastion": ours["case"], "peer": peer["case"], "ratio": ratio}
    return {
        "pair": name,
        "bastion": ours["case"],
        "peer": peer["case"],
        "ratio": ours["per_s"] / peer["per_s"],
    }


# ---------------------------------------------------------------------------------------------------------
# 2. Redis, asyncio, 64 in flight
# ---------------------------------------------------------------------------------------------------------


@dataclass
class RedisCase:
    name: str
    library: str
    algorithm: str
    client: str
    decide: Callable[[str], Awaitable[Any]]


def redis_cases(url: str) -> list[RedisCase]:
    store = bastion.Store(url, timeout=STORE_TIMEOUT, prefix="bastion:")

    def ours(algorithm: str) -> RedisCase:
        limiter = bastion.RateLimiter(RATE, store=store, name=f"bench-{algorithm}", algorithm=algorithm)
        return RedisCase(f"bastion {algorithm} (acheck)", "bastion", algorithm, "bastion", limiter.acheck)

    item = limits.parse(RATE)
    peer_url = "async+" + url
    implementations = [("coredis", "coredis")] if version("coredis") else []
    implementations.append(("redispy", "redis-py asyncio"))
    cases = [ours("sliding_window")]
    for impl, client in implementations:
        storage = limits.aio.storage.RedisStorage(peer_url, implementation=impl)
        strategy = limits.aio.strategies.MovingWindowRateLimiter(storage)
        cases.append(
            RedisCase(
                f"limits moving window ({client})",
                "limits",
                "moving_window",
                client,
                partial(strategy.hit, item),
            )
        )
    cases.append(ours("sliding_counter"))
    for impl, client in implementations:
        storage = limits.aio.storage.RedisStorage(peer_url, implementation=impl)
        strategy = limits.aio.strategies.SlidingWindowCounterRateLimiter(storage)
        cases.append(
            RedisCase(
                f"limits sliding window counter ({client})",
                "limits",
                "sliding_counter",
                client,
                partial(strategy.hit, item),
            )
        )
    cases.append(ours("fixed_window"))
    for impl, client in implementations:
        storage = limits.aio.storage.RedisStorage(peer_url, implementation=impl)
        strategy = limits.aio.strategies.FixedWindowRateLimiter(storage)
        cases.append(
            RedisCase(
                f"limits fixed window ({client})",
                "limits",
                "fixed_window",
                client,
                partial(strategy.hit, item),
            )
        )
    cases.append(ours("gcra"))
    return cases


def client_cpu() -> float:
    """CPU seconds of this process, every thread (the event loop's and bastion's I/O threads)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def redis_cpu(admin: redis.Redis) -> tuple[float, int]:
    """CPU seconds of the Redis server, and the reads from client sockets it has made."""
    info = admin.info("cpu")
    reads = admin.info("stats")["total_reads_processed"]
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"]), int(reads)


async def in_flight(
    decide: Callable[[str], Awaitable[Any]], keys: Sequence[str], n: int
) -> tuple[float, int]:
    """Runs a decision for every key with ``n`` in flight (``n`` tasks taking keys from one iterator, so
    a finished decision is replaced at once); returns (seconds, decisions admitted)."""
    it = iter(keys)
    admitted = 0

    async def worker() -> None:
        nonlocal admitted
        for k in it:
            if await decide(k):
                admitted += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(n)))
    return time.perf_counter() - t0, admitted


def commandstats(r: redis.Redis) -> dict[str, int]:
    """Calls per command since the last CONFIG RESETSTAT, the calls a script makes included."""
    return {name: stats["calls"] for name, stats in r.info("commandstats").items()}


# The counting connection's own commands, left out of the counts.
OWN_COMMANDS = {"slowlog", "config", "info", "flushall"}


async def count_commands(r: redis.Redis, case: RedisCase, keys: Sequence[str]) -> dict[str, Any]:
    """Redis commands per decision over ``len(keys)`` decisions, 64 in flight, counted by the server.

    The slow log with a threshold of 0 µs records every command with the address of the client that
    sent it; the commands a Lua script calls are recorded with the script's own pseudo-client
    (address ``?:0``). So the entries with a real address are the commands that crossed the network
    (each decision's requests, pipelined or not), and ``INFO commandstats`` adds what the scripts ran.
    No MONITOR: it would slow every command down while counting."""
    r.flushall()
    await in_flight(case.decide, keys[:100], IN_FLIGHT)  # connections open, scripts loaded
    r.config_set("slowlog-max-len", 1_000_000)
    r.config_set("slowlog-log-slower-than", 0)
    r.slowlog_reset()
    r.config_resetstat()
    await in_flight(case.decide, keys, IN_FLIGHT)
    r.config_set("slowlog-log-slower-than", 10_000)
    entries = r.slowlog_get(-1)
    stats = commandstats(r)
    r.slowlog_reset()
    sent: Counter[str] = Counter()
    for e in entries:
        name = e["command"].split(b" ", 1)[0].decode().lower()
        if e.get("client_address") != b"?:0" and name not in OWN_COMMANDS:
            sent[name] += 1
    for own in OWN_COMMANDS:
        stats = {k: v for k, v in stats.items() if k.split("|")[0] != own}
    n = len(keys)
    return {
        "sent_per_decision": sum(sent.values()) / n,
        "sent": {k: v / n for k, v in sorted(sent.items())},
        "executed_per_decision": sum(stats.values()) / n,
        "executed": {k: v / n for k, v in sorted(stats.items())},
    }


async def redis_benchmarks(server: redis_harness.RedisServer, keys: list[str]) -> dict[str, Any]:
    cases = redis_cases(server.url)
    admin = redis.Redis.from_url(server.url)  # FLUSHALL and counting, on its own connection
    want = expected_admitted(keys)
    counts: dict[str, dict[str, Any]] = {}
    admitted: dict[str, int] = {}
    for c in cases:
        counts[c.name] = await count_commands(admin, c, keys[:COUNT_OPS])
        admin.flushall()
        admitted[c.name] = (await in_flight(c.decide, keys, IN_FLIGHT))[1]
        if c.algorithm in ("sliding_window", "moving_window"):
            assert admitted[c.name] == want, (
                f"{c.name} admitted {admitted[c.name]}, an exact log admits {want}"
            )
    best = [float("inf")] * len(cases)
    cpu: list[tuple[float, float, int]] = [(0.0, 0.0, 0)] * len(cases)
    for _ in range(REDIS_REPEATS):
        for i, c in enumerate(cases):
            admin.flushall()
            client0, (server0, reads0) = client_cpu(), redis_cpu(admin)
            t = (await in_flight(c.decide, keys, IN_FLIGHT))[0]
            if t < best[i]:
                best[i] = t
                server1, reads1 = redis_cpu(admin)
                # The reads include the two INFO calls of the counting connection.
                cpu[i] = (client_cpu() - client0, server1 - server0, reads1 - reads0 - 2)
    rows = [
        {
            "case": c.name,
            "library": c.library,
            "algorithm": c.algorithm,
            "client": c.client,
            "per_s": len(keys) / t,
            "us_per_decision": t / len(keys) * 1e6,
            "client_cpu_us": cpu_us[0] / len(keys) * 1e6,
            "redis_cpu_us": cpu_us[1] / len(keys) * 1e6,
            "decisions_per_read": len(keys) / max(1, cpu_us[2]),
            "admitted": admitted[c.name],
            **counts[c.name],
        }
        for c, t, cpu_us in zip(cases, best, cpu, strict=True)
    ]
    pairs = []
    for ours_alg, peer_alg, name in (
        ("sliding_window", "moving_window", "exact log"),
        ("sliding_counter", "sliding_counter", "sliding-window counter"),
        ("fixed_window", "fixed_window", "fixed window"),
    ):
        ours = next(r for r in rows if r["library"] == "bastion" and r["algorithm"] == ours_alg)
        peers = [r for r in rows if r["library"] == "limits" and r["algorithm"] == peer_alg]
        fastest = max(peers, key=lambda r: r["per_s"])  # the peer's best client implementation
        pairs.append(pair(name, ours, fastest))
    print(
        f"\nRedis, one process, asyncio, {IN_FLIGHT} decisions in flight: {len(keys)} decisions per run "
        f"(best of {REDIS_REPEATS} interleaved runs, each from FLUSHALL)"
    )
    for r in rows:
        print(
            f"  {r['case']:<48} {r['per_s']:>9,.0f} /s  ({r['us_per_decision']:>6.1f} µs each; CPU µs "
            f"client {r['client_cpu_us']:.1f}, Redis {r['redis_cpu_us']:.1f}; "
            f"{r['decisions_per_read']:.1f} decisions per server read)  "
            f"sent {r['sent_per_decision']:.2f}/decision {r['sent']}, run in scripts too "
            f"{r['executed_per_decision']:.2f}"
        )
    for p in pairs:
        print(f"  {p['pair']:<40} bastion / {p['peer']} = {p['ratio']:.2f}x")
    return {
        "decisions": len(keys),
        "admitted_exact": want,
        "in_flight": IN_FLIGHT,
        "repeats": REDIS_REPEATS,
        "counted_decisions": COUNT_OPS,
        "store_timeout_s": STORE_TIMEOUT,
        "rows": rows,
        "pairs": pairs,
    }


# ---------------------------------------------------------------------------------------------------------


def main() -> None:
    RESULTS.mkdir(exist_ok=True)
    idle_before = machine_idle_percent()
    configure_django()
    versions = {
        "python": platform.python_version(),
        "limits": version("limits"),
        "djangorestframework": version("djangorestframework"),
        "django": django.__version__,
        "coredis": version("coredis"),
        "redis_py": version("redis"),
        "hiredis": version("hiredis"),
    }
    print(
        f"Python {versions['python']}, {os.cpu_count()} cores; limits {versions['limits']}, "
        f"DRF {versions['djangorestframework']} (Django {versions['django']}), "
        f"coredis {versions['coredis']}, redis-py {versions['redis_py']}; "
        f"machine idle before the run: {idle_before:.0f}%"
    )
    memory = memory_benchmarks(workload(MEMORY_OPS, seed=1))
    try:
        server = redis_harness.start_server()
    except redis_harness.RedisUnavailable as e:
        raise SystemExit(f"ratelimit_bench: {redis_harness.skip_message(str(e))}") from None
    with server:
        redis_version = server.command("INFO", "server").decode().split("redis_version:")[1].split()[0]
        print(f"Redis {redis_version} on loopback")
        red = asyncio.run(redis_benchmarks(server, workload(REDIS_OPS, seed=2)))
    out = {
        **versions,
        "cores": os.cpu_count(),
        "machine_idle_before_pct": idle_before,
        "redis_server": redis_version,
        "rate": RATE,
        "distinct_keys": DISTINCT_KEYS,
        "hot_share": HOT_SHARE,
        "guarantees": GUARANTEES,
        "targets": {"memory_exact_vs_limits_moving": TARGET_MEMORY, "redis_vs_limits": TARGET_REDIS},
        "memory": memory,
        "redis": red,
    }
    (RESULTS / "ratelimit_python.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
