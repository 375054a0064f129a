"""Cross-process single-flight: how long the waiters of one key wait, bastion against python-redis-lock.

Run with `make bench` (release build; it makes sure redis-server is installed). The script starts its
own redis-server on a free loopback port with the test harness (tests/python/redis_harness.py), then,
for each contender and round, starts N processes (default 50) that all ask for one missing key at the
same instant. One of them computes it (a fixed upstream time, default 200 ms); the others wait. Each
process reports how long its call took from the common start; the figure to watch is the waiters'
latency against the upstream time (target: upstream plus a few ms, whatever N).

Contenders, the same N processes and upstream each time:
- bastion `Cache.get(key, fn)`: in-process coalescing, a fenced lease per key, the value written and
  published once, every waiter woken by one broadcast and reading the value directly;
- python-redis-lock with the usual "triple check" (GET; on a miss take the lock, GET again, compute,
  SET, release), whose release wakes one waiter at a time (BLPOP on a signal list);
- bastion.compat.redis_lock running that same triple-check code unchanged (the drop-in).

Then the hit path of a warm key, one process: bastion `Cache.get` answered by its local tier (the
default `local_ttl` of 1 s), `Cache.get` with `local_ttl=0` (one Redis round trip per call), and
the peer's hit path in the triple check (redis-py `GET` and `json.loads`).

Writes bench/results/lock.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import queue
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "python"))
import redis_harness  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def _worker(
    kind: str, url: str, key: str, upstream_s: float, idx: int, ready: Any, start_at: Any, out: Any, done: Any
) -> None:
    import redis

    if kind == "bastion":
        from bastion import Cache, Store

        cache = Cache(Store(url, timeout=2.0, prefix="lockbench:"), ttl=60, xfetch_beta=0)
        cache.ready(10)
        # Warm, as the redis-py contenders are by their PING: connection made, scripts loaded.
        cache.get("warm-up", lambda: "warm")

        def call() -> str:
            def upstream() -> str:
                time.sleep(upstream_s)
                return "value"

            return cache.get(key, upstream)
    else:
        if kind == "python-redis-lock":
            import redis_lock as lockmod
        else:
            from bastion.compat import redis_lock as lockmod
        r = redis.Redis.from_url(url)
        r.ping()
        if kind != "python-redis-lock":
            lockmod.Lock(r, "warm-up", expire=5).locked()

        def call() -> str:
            v = r.get(key)
            if v is None:
                with lockmod.Lock(r, key, expire=30):
                    v = r.get(key)
                    if v is None:
                        time.sleep(upstream_s)
                        v = b'"value"'
                        r.set(key, v, ex=60)
            return "value"

    ready.put(os.getpid())
    while start_at.value == 0.0:
        time.sleep(0.001)
    t0 = start_at.value
    # Sleep (not spin) until the common start: 50 spinning processes on a few cores would make the
    # scheduler hand each its slice in turn, and the last would start tens of ms late.
    time.sleep(max(0.0, t0 - time.time()))
    v = call()
    # Recorded in shared memory (no pickling, no feeder thread), and the process stays idle until
    # every caller has reported, so finishing processes do not compete with the ones still waiting.
    out[idx] = time.time() - t0 if v == "value" else -1.0
    done.wait(600)


def run(kind: str, url: str, key: str, n: int, upstream_s: float) -> list[float]:
    ctx = multiprocessing.get_context("spawn")
    ready, done = ctx.Queue(), ctx.Event()
    out = ctx.Array("d", [0.0] * n)
    start_at = ctx.Value("d", 0.0)
    procs = [
        ctx.Process(target=_worker, args=(kind, url, key, upstream_s, i, ready, start_at, out, done))
        for i in range(n)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        while True:
            try:
                ready.get(timeout=1)
                break
            except queue.Empty:
                dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
                if dead:
                    for p in procs:
                        p.kill()
                    raise SystemExit(f"lock_bench: a {kind} worker failed at start-up") from None
    time.sleep(0.5)
    start_at.value = time.time() + 0.3
    deadline = time.time() + 300
    while any(x == 0.0 for x in out[:]) and time.time() < deadline:
        time.sleep(0.01)
    got = list(out[:])
    done.set()
    for p in procs:
        p.join(timeout=60)
    assert all(t > 0 for t in got), got
    return sorted(got)


def summary(lat: list[float], upstream_s: float) -> dict[str, float]:
    ms = [x * 1000 for x in lat]
    waiters = ms[1:]  # the fastest is the computing process
    return {
        "leader_ms": ms[0],
        "p50_ms": statistics.median(waiters),
        "p90_ms": waiters[int(0.9 * (len(waiters) - 1))],
        "max_ms": waiters[-1],
        "max_over_upstream_ms": waiters[-1] - upstream_s * 1000,
    }


def per_call_us(fn: Any, n: int) -> float:
    """Median over 5 runs of the time per call of ``fn()``, in microseconds."""
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - started) / n * 1e6)
    return statistics.median(runs)


def hits(url: str) -> dict[str, float]:
    """Microseconds per hit of a warm key: bastion with and without its local tier, redis-py GET."""
    import redis
    from bastion import Cache, Store

    near = Cache(Store(url, timeout=2.0, prefix="hitbench:"), ttl=600)
    far = Cache(Store(url, timeout=2.0, prefix="hitbench:"), ttl=600, local_ttl=0)
    assert near.ready(10) and far.ready(10)
    value = {"user": 1, "name": "Ada", "roles": ["admin", "ops"]}
    near.get("hot", lambda: value)
    client = redis.Redis.from_url(url)
    client.set("hitbench:peer:hot", json.dumps(value))
    for c in (near, far):
        assert c.get("hot", lambda: None) == value
    return {
        "bastion local tier": per_call_us(lambda: near.get("hot", lambda: None), 20_000),
        "bastion local_ttl=0": per_call_us(lambda: far.get("hot", lambda: None), 2_000),
        "redis-py GET": per_call_us(lambda: json.loads(client.get("hitbench:peer:hot")), 2_000),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--processes", type=int, default=50)
    ap.add_argument("--upstream-ms", type=float, default=200.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    upstream_s = args.upstream_ms / 1000
    RESULTS.mkdir(exist_ok=True)
    try:
        server = redis_harness.start_server()
    except redis_harness.RedisUnavailable as e:
        raise SystemExit(f"lock_bench: {redis_harness.skip_message(str(e))}") from None
    import redis
    import redis_lock

    kinds = ["bastion", "python-redis-lock", "bastion.compat.redis_lock"]
    results: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
    with server:
        version = server.command("INFO", "server").decode().split("redis_version:")[1].split()[0]
        print(
            f"Python {platform.python_version()}, {os.cpu_count()} cores, Redis {version}, redis-py "
            f"{redis.__version__}, python-redis-lock {redis_lock.__version__}; {args.processes} processes, "
            f"upstream {args.upstream_ms:g} ms"
        )
        for rnd in range(args.rounds):
            for kind in kinds:
                lat = run(kind, server.url, f"k:{kind}:{rnd}", args.processes, upstream_s)
                s = summary(lat, upstream_s)
                results[kind].append(s)
                print(
                    f"  round {rnd + 1} {kind:28s} leader {s['leader_ms']:7.1f} ms  waiters p50 "
                    f"{s['p50_ms']:7.1f} ms  p90 {s['p90_ms']:7.1f} ms  max {s['max_ms']:7.1f} ms",
                    flush=True,
                )
        hit_us = hits(server.url)
        for name, us in hit_us.items():
            print(f"  hit of a warm key, {name:22s} {us:8.2f} us/call", flush=True)
    best = {k: min(v, key=lambda s: s["max_ms"]) for k, v in results.items()}
    med = {k: {m: statistics.median(s[m] for s in v) for m in v[0]} for k, v in results.items()}
    peer = med["python-redis-lock"]
    ours = med["bastion"]
    info = {
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "redis_server": version,
        "redis_py": redis.__version__,
        "python_redis_lock": redis_lock.__version__,
        "processes": args.processes,
        "upstream_ms": args.upstream_ms,
        "rounds": args.rounds,
        "median": med,
        "best": best,
        "ratio_max": peer["max_ms"] / ours["max_ms"],
        "ratio_p50": peer["p50_ms"] / ours["p50_ms"],
        "ratio_over_upstream": peer["max_over_upstream_ms"] / max(ours["max_over_upstream_ms"], 0.001),
        "hit_us": hit_us,
    }
    (RESULTS / "lock.json").write_text(json.dumps(info, indent=2))
    print(
        f"median of {args.rounds} rounds: bastion waiters max {ours['max_ms']:.1f} ms (upstream + "
        f"{ours['max_over_upstream_ms']:.1f} ms), python-redis-lock max {peer['max_ms']:.1f} ms: "
        f"{info['ratio_max']:.2f}x; p50 {info['ratio_p50']:.2f}x"
    )


if __name__ == "__main__":
    main()
