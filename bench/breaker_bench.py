"""Circuit breaker in Python: bastion's CircuitBreaker against pybreaker, side by side.

Run with `make bench` (release build). Prints a table and writes bench/results/breaker_python.json.

1. Overhead per call through a closed breaker: a call of a function that returns at once, minus
   the same call unwrapped (µs). bastion: `call(f)`, the decorator, and the two-step permit
   (`acquire()` then `success()`); pybreaker: `call(f)` and its decorator.
2. A call rejected while open: bastion `try_acquire()` (None, no exception), bastion `call` raising
   `CircuitOpenError`, pybreaker `call` raising `CircuitBreakerError`.
3. Parallel calls: 8 threads each make 25 calls of 5 ms of I/O (`time.sleep(0.005)`) through one
   breaker, against the same calls unwrapped (wall-clock seconds). pybreaker holds a lock around
   every call, so its calls run one at a time.
4. Shared through Redis (a redis-server started on a free loopback port): bastion's breaker on a
   Redis `Store` against pybreaker with its `CircuitRedisStorage` (redis-py), µs per call through a
   closed breaker, for a success and for a failure.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pybreaker
import redis
from bastion import CircuitBreaker, CircuitOpenError, Store

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "python"))
import redis_harness  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
CALLS = 200_000
REPEATS = 7
THREADS = 8
PER_THREAD = 25
IO_SECONDS = 0.005
PARALLEL_REPEATS = 5


def f() -> int:
    return 1


def best_us(run: Callable[[int], None], n: int = CALLS, repeats: int = REPEATS) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        run(n)
        best = min(best, time.perf_counter() - t0)
    return best / n * 1e6


def overhead() -> dict:
    ours = CircuitBreaker("bench", fail_max=1_000_000)
    theirs = pybreaker.CircuitBreaker(fail_max=1_000_000)
    ours_decorated = ours(f)
    theirs_decorated = theirs(f)

    def unwrapped(n: int) -> None:
        for _ in range(n):
            f()

    def bastion_call(n: int) -> None:
        call = ours.call
        for _ in range(n):
            call(f)

    def bastion_decorated(n: int) -> None:
        for _ in range(n):
            ours_decorated()

    def bastion_two_step(n: int) -> None:
        acquire = ours.acquire
        for _ in range(n):
            p = acquire()
            f()
            p.success()

    def pybreaker_call(n: int) -> None:
        call = theirs.call
        for _ in range(n):
            call(f)

    def pybreaker_decorated(n: int) -> None:
        for _ in range(n):
            theirs_decorated()

    cases = {
        "unwrapped": unwrapped,
        "bastion call(f)": bastion_call,
        "bastion decorator": bastion_decorated,
        "bastion acquire() + success()": bastion_two_step,
        "pybreaker call(f)": pybreaker_call,
        "pybreaker decorator": pybreaker_decorated,
    }
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(REPEATS):  # interleaved: every round times every case once
        for name, run in cases.items():
            best[name] = min(best[name], best_us(run, CALLS, 1))
    base = best["unwrapped"]
    rows = [{"case": k, "us": v, "overhead_us": max(v - base, 0.0)} for k, v in best.items()]
    return {"rows": rows, "unwrapped_us": base}


def rejection() -> dict:
    ours = CircuitBreaker("bench-open", fail_max=1, reset_timeout=3600)
    ours.open()
    theirs = pybreaker.CircuitBreaker(fail_max=1, reset_timeout=3600)
    theirs.open()

    def bastion_try(n: int) -> None:
        try_acquire = ours.try_acquire
        for _ in range(n):
            try_acquire()

    def bastion_raise(n: int) -> None:
        call = ours.call
        for _ in range(n):
            try:
                call(f)
            except CircuitOpenError:
                pass

    def pybreaker_raise(n: int) -> None:
        call = theirs.call
        for _ in range(n):
            try:
                call(f)
            except pybreaker.CircuitBreakerError:
                pass

    cases = {
        "bastion try_acquire() (None)": bastion_try,
        "bastion call(f) raising CircuitOpenError": bastion_raise,
        "pybreaker call(f) raising CircuitBreakerError": pybreaker_raise,
    }
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(REPEATS):
        for name, run in cases.items():
            best[name] = min(best[name], best_us(run, CALLS // 4, 1))
    return {"rows": [{"case": k, "us": v} for k, v in best.items()]}


def parallel() -> dict:
    def io() -> None:
        time.sleep(IO_SECONDS)

    def run(call: Callable[[], None]) -> float:
        barrier = threading.Barrier(THREADS)

        def worker() -> None:
            barrier.wait()
            for _ in range(PER_THREAD):
                call()

        threads = [threading.Thread(target=worker) for _ in range(THREADS)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.perf_counter() - t0

    ours = CircuitBreaker("bench-parallel")
    theirs = pybreaker.CircuitBreaker()
    cases = {
        "unwrapped": io,
        "bastion call(f)": lambda: ours.call(io),
        "pybreaker call(f)": lambda: theirs.call(io),
    }
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(PARALLEL_REPEATS):
        for name, call in cases.items():
            best[name] = min(best[name], run(call))
    return {"rows": [{"case": k, "seconds": v} for k, v in best.items()]}


SHARED_CALLS = 5_000


def shared(url: str) -> dict:
    """µs per call through a closed breaker whose state is in Redis."""
    ours = CircuitBreaker("bench-shared", fail_max=1_000_000_000, store=Store(url, timeout=1.0))
    client = redis.Redis.from_url(url)
    theirs = pybreaker.CircuitBreaker(
        fail_max=1_000_000_000,
        state_storage=pybreaker.CircuitRedisStorage(pybreaker.STATE_CLOSED, client, namespace="bench"),
    )

    def boom() -> None:
        raise ValueError("down")

    def successes(call: Callable[[Callable[[], int]], object]) -> Callable[[int], None]:
        def run(n: int) -> None:
            for _ in range(n):
                call(f)

        return run

    def failures(call: Callable[[Callable[[], None]], object]) -> Callable[[int], None]:
        def run(n: int) -> None:
            for _ in range(n):
                try:
                    call(boom)
                except ValueError:
                    pass

        return run

    rows = []
    for case, run in [
        ("bastion, success", successes(ours.call)),
        ("pybreaker + CircuitRedisStorage, success", successes(theirs.call)),
        ("bastion, failure", failures(ours.call)),
        ("pybreaker + CircuitRedisStorage, failure", failures(theirs.call)),
    ]:
        rows.append({"case": case, "us": best_us(run, SHARED_CALLS, 5)})
    us = {r["case"]: r["us"] for r in rows}
    return {
        "rows": rows,
        "calls": SHARED_CALLS,
        "ratio_success": us["pybreaker + CircuitRedisStorage, success"] / us["bastion, success"],
        "ratio_failure": us["pybreaker + CircuitRedisStorage, failure"] / us["bastion, failure"],
    }


def main() -> None:
    info = {
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "pybreaker": pybreaker.__version__ if hasattr(pybreaker, "__version__") else _version("pybreaker"),
    }
    print(f"Python {info['python']}, {info['cores']} cores; pybreaker {info['pybreaker']}")
    ov = overhead()
    print(f"\nOverhead per call through a closed breaker ({CALLS} calls, best of {REPEATS}; µs):")
    for r in ov["rows"]:
        print(f"  {r['case']:<34} {r['us']:8.3f} µs   overhead {r['overhead_us']:.3f} µs")
    rj = rejection()
    print("\nA call while open (µs):")
    for r in rj["rows"]:
        print(f"  {r['case']:<48} {r['us']:8.3f} µs")
    par = parallel()
    print(
        f"\n{THREADS} threads x {PER_THREAD} calls of {IO_SECONDS * 1000:g} ms I/O"
        f" (best of {PARALLEL_REPEATS}; s):"
    )
    for r in par["rows"]:
        print(f"  {r['case']:<20} {r['seconds']:.3f} s")
    try:
        server = redis_harness.start_server()
    except redis_harness.RedisUnavailable as e:
        raise SystemExit(f"breaker_bench: {redis_harness.skip_message(str(e))}") from None
    with server:
        sh = shared(server.url)
    print(f"\nShared through Redis (loopback; {SHARED_CALLS} calls, best of 5; µs/call):")
    for r in sh["rows"]:
        print(f"  {r['case']:<44} {r['us']:8.2f} µs")
    print(
        f"  pybreaker + CircuitRedisStorage / bastion: success {sh['ratio_success']:.1f}x,"
        f" failure {sh['ratio_failure']:.1f}x"
    )
    ours = {r["case"]: r for r in ov["rows"]}
    ratio = ours["pybreaker call(f)"]["overhead_us"] / ours["bastion call(f)"]["overhead_us"]
    ratio_dec = ours["pybreaker decorator"]["overhead_us"] / ours["bastion decorator"]["overhead_us"]
    p = {r["case"]: r["seconds"] for r in par["rows"]}
    info.update(
        overhead=ov,
        rejection=rj,
        parallel=par,
        shared=sh,
        threads=THREADS,
        per_thread=PER_THREAD,
        io_ms=IO_SECONDS * 1000,
        ratio_call=ratio,
        ratio_decorator=ratio_dec,
        parallel_vs_unwrapped=p["bastion call(f)"] / p["unwrapped"],
        pybreaker_parallel_vs_unwrapped=p["pybreaker call(f)"] / p["unwrapped"],
    )
    print(f"\n  overhead, call(f):   pybreaker / bastion = {ratio:.1f}x")
    print(f"  overhead, decorator: pybreaker / bastion = {ratio_dec:.1f}x")
    print(
        f"  parallel: bastion / unwrapped = {info['parallel_vs_unwrapped']:.2f}x, pybreaker / unwrapped = "
        f"{info['pybreaker_parallel_vs_unwrapped']:.2f}x"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "breaker_python.json").write_text(json.dumps(info, indent=2))


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


if __name__ == "__main__":
    main()
