"""State layer and token lifecycle: what the revocation check and rotation cost, on memory and on Redis.

Run with `make bench` (release build; it makes sure redis-server is installed). This script starts its
own redis-server on a free loopback port with the test harness (tests/python/redis_harness.py) and
stops it when it ends. Prints a table and writes bench/results/store.json.

- HS256 access-token verify, one thread, sequential: plain `Verifier.decode` (signature and claims, no
  state) against `TokenService.verify` (the same plus the revocation check) on the memory store and on
  Redis; the peer is PyJWT plus redis-py running the same revocation script by hand. Best of ten
  short repeats, µs per operation (python_bench.py's measure).
- Redis decision latency against a bare PING from the same client: per-call wall times (mean, p50, p99)
  of `Store.ping()`, `TokenService.verify`, and redis-py's PING and EVALSHA of the same script; once as
  the machine is, once with one core kept busy by a lowest-priority loop (on a virtual machine an idle
  core is slow to wake, and every round trip wakes Redis and then the client).
- Rotations per second on Redis: one thread, 8 threads (the sync API releases the GIL), and asyncio
  (`arotate`) with one and with many rotations in flight over the one multiplexed connection. Every
  rotation is of its own family; the pairs are issued beforehand, untimed. Best of five repeats.
- For context: `TokenService.verify` on the memory store from one and from two threads (verifies per
  second, best of three alternating one-second runs).

Repeats are interleaved across the cases compared, so a slow stretch of a shared machine falls on all.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import timeit
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import bastion
import jwt as pyjwt
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "python"))
import redis_harness  # noqa: E402

RESULTS = Path(__file__).parent / "results"
SCRIPTS = ROOT / "core" / "src" / "store" / "scripts"
SECRET = "k8Jd93hsQ0-bench-secret-2Xz7pL4mN1vB6cR9tY3wE5uI8oA0sD"
ISSUER = "https://auth.example.com"
AUDIENCE = "api.example.com"
PREFIX = "bastion:"
SUBJECT = "user-42"
CLAIMS = {"name": "Ada Lovelace", "username": "ada", "roles": ["admin", "editor"]}
# Generous for a benchmark on a shared machine: a scheduling hiccup must not turn into
# StoreUnavailableError. The timeout bounds a call; it does not change its speed.
STORE_TIMEOUT = 1.0
THREADS = 8
IN_FLIGHT = 64
VERIFY_REPEATS = 10
ROTATION_REPEATS = 5


def best_per_op_us(cases: Sequence[tuple[Callable[[], object], int]], repeat: int = 5) -> list[float]:
    """Best of ``repeat`` µs per operation for each ``(fn, number)``. The repeats are interleaved
    (each round times every case once), so a slow stretch of a shared machine falls on all cases."""
    best = [float("inf")] * len(cases)
    for _ in range(repeat):
        for i, (fn, number) in enumerate(cases):
            best[i] = min(best[i], timeit.timeit(fn, number=number) / number * 1e6)
    return best


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    k = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


def tagged_key(subject: str, name: str) -> str:
    """The core's key layout (`tagged_key` in core/src/store/mod.rs) for a plain ASCII subject."""
    return f"{PREFIX}tok:{{{subject}}}:{name}"


def revocation_keys(claims: dict[str, Any]) -> tuple[str, str, str]:
    """The revocation check's keys for a token: its jti, the subject's mark, its family."""
    sub = claims["sub"]
    return (
        tagged_key(sub, f"jti:{claims['jti']}"),
        tagged_key(sub, "nbf"),
        tagged_key(sub, f"fam:{claims['fam']}"),
    )


# ---------------------------------------------------------------------------------------------------------
# 1. Verify: plain against verify-with-revocation-check
# ---------------------------------------------------------------------------------------------------------


def verify_benchmarks(
    plain: bastion.Verifier,
    mem: bastion.TokenService,
    red: bastion.TokenService,
    r: redis.Redis,
    sha: str,
) -> list[dict[str, Any]]:
    access_mem = mem.issue_pair(SUBJECT, CLAIMS).access
    access_red = red.issue_pair(SUBJECT, CLAIMS).access

    def by_hand() -> int:
        # What a Python service writes without bastion: PyJWT, then the same revocation check
        # (the same Lua script, keys and arguments) through redis-py.
        c = pyjwt.decode(access_red, SECRET, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER)
        return r.evalsha(sha, 3, *revocation_keys(c), -1, c["iat"] * 1_000_000)

    cases = [
        ("plain verify: Verifier.decode (signature, exp/aud/iss)", lambda: plain.decode(access_mem), 5000),
        ("TokenService.verify, memory store", lambda: mem.verify(access_mem), 5000),
        ("TokenService.verify, Redis (one round trip)", lambda: red.verify(access_red), 500),
        ("PyJWT.decode + redis-py EVALSHA (same script)", by_hand, 500),
    ]
    for _, fn, _ in cases:
        fn()
    assert by_hand() == 0
    timings = best_per_op_us([(fn, number) for _, fn, number in cases], repeat=VERIFY_REPEATS)
    base = timings[0]
    rows = [
        {"op": op, "us": us, "over_plain_us": us - base, "x_plain": us / base}
        for (op, _, _), us in zip(cases, timings, strict=True)
    ]
    print(
        f"\nHS256 access-token verify, one thread (best of {VERIFY_REPEATS} interleaved repeats, µs/op; "
        "over plain verify)"
    )
    for row in rows:
        print(
            f"  {row['op']:<56} {row['us']:>8.2f} µs   {row['over_plain_us']:>+8.2f} µs   "
            f"{row['x_plain']:>6.1f}x plain"
        )
    red_us, hand_us = rows[2]["us"], rows[3]["us"]
    print(f"  bastion on Redis vs PyJWT + redis-py by hand: {hand_us / red_us:.2f}x")
    return rows


# ---------------------------------------------------------------------------------------------------------
# 2. Redis decision latency against a bare PING from the same client
# ---------------------------------------------------------------------------------------------------------


def latency_benchmarks(
    store: bastion.Store, red: bastion.TokenService, r: redis.Redis, sha: str, iterations: int = 10000
) -> list[dict[str, Any]]:
    access = red.issue_pair(SUBJECT, CLAIMS).access
    c = red.verify(access)
    keys = revocation_keys(c)
    iat_us = c["iat"] * 1_000_000
    ops: list[tuple[str, Callable[[], object]]] = [
        ("bastion Store.ping() (PING)", store.ping),
        ("bastion TokenService.verify (EVALSHA + JWT)", lambda: red.verify(access)),
        ("redis-py PING", r.ping),
        ("redis-py EVALSHA (same script, same keys)", lambda: r.evalsha(sha, 3, *keys, -1, iat_us)),
    ]
    rows = sample_latency(ops, iterations)
    with busy_core():
        busy = sample_latency(ops, iterations)
    ping_p50 = rows[0]["p50_us"]
    for row, b in zip(rows, busy, strict=True):
        row["p50_over_ping_us"] = None if row.get("in_core") else row["p50_us"] - ping_p50
        row["busy"] = {k: b[k] for k in ("mean_us", "p50_us", "p99_us")}
    print(f"\nRedis decision latency vs bare PING, same client, one thread ({iterations} calls each, µs)")
    print(f"  {'':<50} {'as the machine was':>34}   {'one core kept busy':>18}")
    print(f"  {'operation':<50} {'mean':>8} {'p50':>8} {'p99':>8} {'p50-PING':>9}   {'p50':>8} {'p99':>8}")
    for row in rows:
        over = "" if row["p50_over_ping_us"] is None else f"{row['p50_over_ping_us']:+.1f}"
        print(
            f"  {row['op']:<50} {row['mean_us']:>8.1f} {row['p50_us']:>8.1f} {row['p99_us']:>8.1f} {over:>9}"
            f"   {row['busy']['p50_us']:>8.1f} {row['busy']['p99_us']:>8.1f}"
        )
    return rows


def sample_latency(ops: Sequence[tuple[str, Callable[[], object]]], iterations: int) -> list[dict[str, Any]]:
    """Wall time of every call, interleaved: each iteration runs every operation once, so drift and
    noise fall on all alike. The first operation is ``Store.ping``, whose own return value (the round
    trip as timed inside the core) gets a row of its own after it."""
    samples: list[list[float]] = [[] for _ in ops]
    in_core: list[float] = []
    for _ in range(200):  # warm-up
        for _, fn in ops:
            fn()
    clock = time.perf_counter_ns
    for _ in range(iterations):
        for i, (_, fn) in enumerate(ops):
            t0 = clock()
            out = fn()
            samples[i].append((clock() - t0) / 1000)
            if i == 0:
                in_core.append(float(out) * 1e6)  # type: ignore[arg-type]
    rows = [summary(op, s) for (op, _), s in zip(ops, samples, strict=True)]
    rows.insert(1, summary("  its round trip as timed inside the core", in_core))
    rows[1]["in_core"] = True
    return rows


# A lowest-priority busy loop: it keeps one core from going idle and yields to every other process.
# It ends by itself after two minutes should this script die without stopping it.
SPINNER = "import time\nend = time.monotonic() + 120\nwhile time.monotonic() < end:\n    pass\n"


@contextlib.contextmanager
def busy_core() -> Iterator[None]:
    """Runs the block with one core kept busy by :data:`SPINNER` (nice 19)."""
    spinner = subprocess.Popen([sys.executable, "-c", SPINNER], preexec_fn=lambda: os.nice(19))
    try:
        time.sleep(0.5)
        yield
    finally:
        spinner.kill()
        spinner.wait()


def machine_idle_percent(seconds: float = 2.0) -> float:
    """How idle the machine's cores are over ``seconds`` (from /proc/stat): other work on the machine."""

    def read() -> tuple[int, int]:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        return sum(fields), fields[3] + fields[4]  # total, idle + iowait

    total0, idle0 = read()
    time.sleep(seconds)
    total1, idle1 = read()
    return 100.0 * (idle1 - idle0) / max(1, total1 - total0)


def summary(op: str, values: list[float]) -> dict[str, Any]:
    s = sorted(values)
    return {
        "op": op,
        "samples": len(s),
        "mean_us": statistics.fmean(s),
        "p50_us": percentile(s, 50),
        "p99_us": percentile(s, 99),
    }


# ---------------------------------------------------------------------------------------------------------
# 3. Rotations per second
# ---------------------------------------------------------------------------------------------------------


def issue_refresh_tokens(svc: bastion.TokenService, n: int) -> list[str]:
    """``n`` refresh tokens, each of its own family (issued concurrently; untimed)."""

    async def issue() -> list[str]:
        sem = asyncio.Semaphore(IN_FLIGHT)

        async def one(i: int) -> str:
            async with sem:
                return (await svc.aissue_pair(f"user-{i}", CLAIMS)).refresh

        return list(await asyncio.gather(*(one(i) for i in range(n))))

    return asyncio.run(issue())


def rotate_sequential(svc: bastion.TokenService, tokens: list[str]) -> float:
    t0 = time.perf_counter()
    for t in tokens:
        svc.rotate(t)
    return time.perf_counter() - t0


def rotate_threads(svc: bastion.TokenService, tokens: list[str], threads: int = THREADS) -> float:
    chunks = [tokens[i::threads] for i in range(threads)]
    barrier = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def worker(chunk: list[str]) -> None:
        barrier.wait()
        try:
            for t in chunk:
                svc.rotate(t)
        except BaseException as e:  # reported below, never swallowed
            errors.append(e)

    ts = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    for t in ts:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in ts:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return elapsed


def rotate_async(svc: bastion.TokenService, tokens: list[str], in_flight: int) -> float:
    async def run() -> float:
        it = iter(tokens)

        async def worker() -> None:
            for t in it:  # one shared iterator: each token is rotated once
                await svc.arotate(t)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        return time.perf_counter() - t0

    return asyncio.run(run())


def rotation_benchmarks(mem: bastion.TokenService, red: bastion.TokenService) -> list[dict[str, Any]]:
    cases: list[tuple[str, bastion.TokenService, int, Callable[[bastion.TokenService, list[str]], float]]] = [
        ("memory, one thread (sync rotate)", mem, 3000, rotate_sequential),
        ("Redis, one thread (sync rotate)", red, 2000, rotate_sequential),
        (f"Redis, {THREADS} threads (sync rotate)", red, 4000, rotate_threads),
        ("Redis, asyncio, 1 in flight (arotate)", red, 2000, lambda s, t: rotate_async(s, t, 1)),
        (
            f"Redis, asyncio, {IN_FLIGHT} in flight (arotate)",
            red,
            4000,
            lambda s, t: rotate_async(s, t, IN_FLIGHT),
        ),
    ]
    best = [float("inf")] * len(cases)
    for _ in range(ROTATION_REPEATS):  # interleaved, as in best_per_op_us
        for i, (_, svc, n, run) in enumerate(cases):
            tokens = issue_refresh_tokens(svc, n)
            best[i] = min(best[i], run(svc, tokens))
            check_rotated(svc, tokens[0])
    rows = []
    print(
        f"\nRotations per second, each of its own family (best of {ROTATION_REPEATS}; "
        "pairs issued beforehand, untimed)"
    )
    for (op, _, n, _), t in zip(cases, best, strict=True):
        rows.append({"op": op, "rotations": n, "per_s": n / t, "us_per_rotation": t / n * 1e6})
        print(f"  {op:<48} {n / t:>9.0f} /s   ({t / n * 1e6:>6.1f} µs each)")
    return rows


def check_rotated(svc: bastion.TokenService, refresh: str) -> None:
    """A rotated refresh token presented again is refused: the timed rotations really happened."""
    try:
        svc.rotate(refresh)
    except bastion.TokenRevokedError:
        return
    raise AssertionError("a refresh token rotated in the benchmark rotated again")


# ---------------------------------------------------------------------------------------------------------
# 4. Memory store verify from two threads
# ---------------------------------------------------------------------------------------------------------


def memory_threads(mem: bastion.TokenService, duration: float = 1.0, repeat: int = 3) -> dict[str, float]:
    access = mem.issue_pair(SUBJECT, CLAIMS).access

    def run(threads: int) -> float:
        counts = [0] * threads
        stop = time.perf_counter() + duration

        def worker(i: int) -> None:
            n = 0
            while time.perf_counter() < stop:
                for _ in range(100):
                    mem.verify(access)
                n += 100
            counts[i] = n

        ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return sum(counts) / duration

    one = two = 0.0
    for _ in range(repeat):  # best of each, alternating
        one = max(one, run(1))
        two = max(two, run(2))
    print(
        f"\nTokenService.verify, memory store, verifies/s: 1 thread {one:,.0f}, 2 threads {two:,.0f}"
        f"  -> {two / one:.2f}x"
    )
    return {"one_thread_per_s": one, "two_threads_per_s": two, "scaling": two / one}


# ---------------------------------------------------------------------------------------------------------


def revocation_script_sha() -> str:
    """SHA-1 of the revocation check as the core sends it (the prelude, then the script)."""
    source = (SCRIPTS / "prelude.lua").read_text() + (SCRIPTS / "revocation_check.lua").read_text()
    return hashlib.sha1(source.encode()).hexdigest()


def check_setup(mem: bastion.TokenService, red: bastion.TokenService, r: redis.Redis, sha: str) -> None:
    """Before timing: revocation is enforced on both stores, the script redis-py runs is the core's, and
    the keys it passes are the core's."""
    for svc in (mem, red):
        pair = svc.issue_pair("revoked-user", CLAIMS)
        svc.verify(pair.access)
        svc.revoke(pair.access, by="revoked-user")
        try:
            svc.verify(pair.access)
        except bastion.TokenRevokedError:
            pass
        else:
            raise AssertionError("a revoked token verified")
    assert r.script_exists(sha) == [True], "the revocation script redis-py runs is not the core's"
    pair = red.issue_pair(SUBJECT, CLAIMS)
    c = red.verify(pair.access)
    assert r.exists(tagged_key(SUBJECT, f"fam:{c['fam']}")) == 1, "key layout differs from the core's"
    red.revoke(pair.access, by=SUBJECT)
    code = r.evalsha(sha, 3, *revocation_keys(c), -1, c["iat"] * 1_000_000)
    assert code == 1, "the check through redis-py disagrees with the core's"


def main() -> None:
    RESULTS.mkdir(exist_ok=True)
    idle_before = machine_idle_percent()
    try:
        server = redis_harness.start_server()
    except redis_harness.RedisUnavailable as e:
        raise SystemExit(f"store_bench: {redis_harness.skip_message(str(e))}") from None
    with server:
        redis_version = server.command("INFO", "server").decode().split("redis_version:")[1].split()[0]
        print(
            f"Python {platform.python_version()}, {os.cpu_count()} cores, Redis {redis_version} "
            f"on loopback, redis-py {redis.__version__}; machine idle before the run: {idle_before:.0f}%"
        )
        key = bastion.Key.hmac(SECRET)
        options = {"issuer": ISSUER, "audience": AUDIENCE}
        mem = bastion.TokenService(key, store=bastion.Store(), **options)
        store = bastion.Store(server.url, timeout=STORE_TIMEOUT, prefix=PREFIX)
        red = bastion.TokenService(key, store=store, **options)
        r = redis.Redis.from_url(server.url)
        plain = bastion.Verifier(key, ["HS256"], audience=AUDIENCE, issuer=ISSUER)
        sha = revocation_script_sha()
        # Every verify below checks the signature on each call, as in python_bench.py.
        cache_size = bastion.set_verified_token_cache_size(0)
        try:
            check_setup(mem, red, r, sha)
            verify_rows = verify_benchmarks(plain, mem, red, r, sha)
            latency_rows = latency_benchmarks(store, red, r, sha)
            rotation_rows = rotation_benchmarks(mem, red)
            clients = r.info("clients")["connected_clients"]
            print(f"  Redis client connections after the rotations: {clients} (bastion's store, redis-py)")
            threads = memory_threads(mem)
        finally:
            bastion.set_verified_token_cache_size(cache_size)
            r.close()
    out = {
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "redis_server": redis_version,
        "redis_py": redis.__version__,
        "hiredis": _version("hiredis"),
        "machine_idle_before_pct": idle_before,
        "pyjwt": pyjwt.__version__,
        "store_timeout_s": STORE_TIMEOUT,
        "threads": THREADS,
        "in_flight": IN_FLIGHT,
        "verify_repeats": VERIFY_REPEATS,
        "rotation_repeats": ROTATION_REPEATS,
        "redis_clients": clients,
        "verify": verify_rows,
        "latency": latency_rows,
        "rotation": rotation_rows,
        "memory_threads": threads,
    }
    (RESULTS / "store.json").write_text(json.dumps(out, indent=2))


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


if __name__ == "__main__":
    main()
