"""Faults and scale across processes: Redis paused, killed and restarted, and a Redis Cluster master killed
and replaced by its replica, under load from Python and Node app processes; app hosts with skewed clocks
sharing one exact limit.

Each app process (``faults_worker.py``, ``tests/node/faults-worker.mjs``) drives a rate limiter, a
lockout, token verification, a shared breaker and a shared cache from its event loop and reports every
call's outcome and latency and its loop's lag. The tests check every call came back within the store's
bound under its component's documented outage policy, that nothing else went wrong, that the processes
found Redis again by themselves, and print the figures. See docs/reliability.md.

``BASTION_FAULT_SECONDS`` (default 1.5) is how long each fault and each quiet phase lasts; ``make scale``
runs longer ones.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis_harness
from bastion import RateLimiter, Store

ROOT = Path(__file__).resolve().parents[2]
PY_WORKER = Path(__file__).with_name("faults_worker.py")
NODE_WORKER = ROOT / "tests" / "node" / "faults-worker.mjs"

TIMEOUT = 0.05  # the store's operation bound: the default
PHASE = float(os.environ.get("BASTION_FAULT_SECONDS", "1.5"))
# A call may make two store round trips (the cache's read, then its fill), each bounded by TIMEOUT; the
# rest is scheduling on a loaded two-core machine running debug builds, four app processes and Redis.
CALL_BOUND = 2 * TIMEOUT + 0.35
# A cache caller that finds the key's lease held waits for that computation up to the cache's
# wait_timeout (the workers set 0.5 s). After a pause, Redis runs the lease requests it queued, whose
# callers had already timed out and carried on locally: such a lease has no holder to fill it, and the
# next callers wait out wait_timeout (docs/reliability.md, "Findings").
CALL_BOUNDS = {"cache": CALL_BOUND + 0.5}
# Reconnection backs off from 50 ms to at most 2 s.
RECOVERY_BOUND = 2.0 + 1.5
# A loop blocked on Redis would lag a whole fault (1.5 s or more); scheduling alone stays well below this.
LAG_BOUND = 0.5
# When each fault of the running test began and ended (seconds since the epoch), for failure messages.
PHASES: dict[str, float] = {}


def mark(name: str) -> float:
    PHASES[name] = now = time.time()
    return now


def _need_node() -> None:
    if shutil.which("node") is None or not any((ROOT / "node").glob("*.node")):
        if redis_harness.in_ci():
            pytest.fail("the Node addon is not built (make build-node)")
        pytest.skip("the Node addon is not built (make build-node)")


class Worker:
    """One app process: started, awaited until ready, stopped, its JSON report read."""

    def __init__(self, argv: list[str]) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT / "python"), "BASTION_NODE": str(ROOT / "node")}
        self.argv = argv
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )

    def wait_ready(self) -> None:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.proc.kill()
            _, err = self.proc.communicate()
            raise AssertionError(f"{self.argv[:2]} did not start: {line!r}\n{err}")

    def finish(self) -> dict[str, Any]:
        out, err = self.proc.communicate("stop\n", timeout=60)
        assert self.proc.returncode == 0, f"{self.argv[:2]} exited {self.proc.returncode}:\n{err}"
        return json.loads(out.strip().splitlines()[-1])

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def start_workers(url: str, prefix: str) -> list[Worker]:
    _need_node()
    args = [url, prefix, str(TIMEOUT)]
    workers = [Worker([sys.executable, str(PY_WORKER), *args]) for _ in range(2)]
    workers += [Worker(["node", str(NODE_WORKER), *args]) for _ in range(2)]
    try:
        for w in workers:
            w.wait_ready()
    except BaseException:
        for w in workers:
            w.kill()
        raise
    return workers


def finish_workers(workers: list[Worker]) -> list[dict[str, Any]]:
    try:
        return [w.finish() for w in workers]
    finally:
        for w in workers:
            w.kill()


def degraded_between(report: dict[str, Any], start: float, end: float) -> list[float]:
    return [t for t in report["degraded"] if start <= t < end]


def recovery(report: dict[str, Any], fault_end: float, next_fault: float) -> float:
    """Seconds from the end of a fault to the last call that still found Redis missing, before the next
    fault (a call started just before it may fail from it)."""
    late = degraded_between(report, fault_end, next_fault - 1.0)
    return max(late) - fault_end if late else 0.0


def check_reports(reports: list[dict[str, Any]]) -> None:
    """What every app process must show whatever the fault: no unexpected failure, every call within
    the bound, a responsive loop."""
    for r in reports:
        who = f"{r['lang']} {r['pid']}"
        assert r["unexpected_count"] == 0, f"{who}: {r['unexpected']}"
        assert set(r["calls"]) == {"ratelimit", "lockout", "verify", "breaker", "cache"}, who
        for op, latency in r["max_latency"].items():
            assert latency < CALL_BOUNDS.get(op, CALL_BOUND), (
                f"{who}: a {op} call took {latency * 1000:.0f} ms, from {r['slowest_at'][op]:.3f} "
                f"(phases: {PHASES})"
            )
        assert r["lag_samples"] > 0, who
        assert r["max_lag"] < LAG_BOUND, f"{who}: the event loop lagged {r['max_lag'] * 1000:.0f} ms"
        # The documented policies: the limiter and lockout fall back to local state, the breaker and
        # cache carry on from this process, a revocation check fails closed.
        allowed = {
            "ratelimit": {"ok", "fallback:local"},
            "lockout": {"ok"},
            "verify": {"ok", "unavailable"},
            "breaker": {"ok"},
            "cache": {"ok"},
        }
        for op, outcomes in r["outcomes"].items():
            assert set(outcomes) <= allowed[op], f"{who}: {op} answered {outcomes}"


def print_figures(title: str, reports: list[dict[str, Any]], recoveries: dict[str, list[float]]) -> None:
    print(f"\n{title}")
    for i, r in enumerate(reports):
        calls = sum(r["calls"].values())
        worst = max(r["max_latency"].values())
        recovered = ", ".join(f"{name} {values[i] * 1000:.0f} ms" for name, values in recoveries.items())
        degraded = {op: o for op, o in sorted(r["outcomes"].items()) if set(o) != {"ok"}}
        print(
            f"  {r['lang']:6} pid {r['pid']}: {calls} calls, slowest {worst * 1000:.1f} ms, "
            f"loop lag max {r['max_lag'] * 1000:.1f} ms, back on Redis after: {recovered}; "
            f"calls answered by a policy: {json.dumps(degraded)}"
        )


def fault(name: str, begin: Callable[[], None], end: Callable[[], None]) -> tuple[float, float]:
    """Runs ``begin``, waits a phase, runs ``end``, then waits for the processes to recover and show it;
    returns when the fault began and ended."""
    began = mark(name)
    begin()
    time.sleep(PHASE)
    end()
    ended = mark(f"{name} ended")
    time.sleep(2 * PHASE + RECOVERY_BOUND)
    return began, ended


def test_redis_paused_killed_and_restarted_under_load(fresh_redis_server: redis_harness.RedisServer) -> None:
    redis = fresh_redis_server
    workers = start_workers(redis.url, redis_harness.unique_prefix("faults"))
    try:
        time.sleep(PHASE)
        faults = {"pause": fault("pause", redis.pause, redis.resume)}
        faults["kill"] = fault("kill", redis.stop, redis.restart)
    finally:
        reports = finish_workers(workers)
    recoveries: dict[str, list[float]] = {name: [] for name in faults}
    next_fault = {"pause": faults["kill"][0], "kill": time.time()}
    for r in reports:
        for name, (_, ended) in faults.items():
            recoveries[name].append(recovery(r, ended, next_fault[name]))
    print_figures(
        "Redis paused then killed and restarted, under load (2 Python + 2 Node processes):",
        reports,
        recoveries,
    )
    check_reports(reports)
    for i, r in enumerate(reports):
        who = f"{r['lang']} {r['pid']}"
        for name, (began, ended) in faults.items():
            # The fault was seen (it really happened, and the policies answered) ...
            assert degraded_between(r, began, ended), f"{who} never noticed the {name}"
            # ... and it ended by itself: calls went back to Redis without anyone's help.
            rec = recoveries[name][i]
            assert rec < RECOVERY_BOUND, f"{who}: still degraded {rec:.2f} s after the {name} ended"


def test_cluster_master_killed_and_its_replica_promoted(request: pytest.FixtureRequest) -> None:
    _need_node()
    cluster = redis_harness.cluster_or_skip(replicas=1, node_timeout_ms=1000)
    request.addfinalizer(cluster.close)
    prefix = redis_harness.unique_prefix("failover")
    workers = start_workers(cluster.url, prefix)
    # A count whose node the test kills: admissions acknowledged to the caller, against what survives.
    store = Store(cluster.url, timeout=0.5, prefix=prefix)
    limiter = RateLimiter("10000/hour", store=store, name="loss", outage_policy="fail_closed")
    replicated = 200
    for _ in range(replicated):
        assert limiter.check("acct").fallback is None
    holder = next(n for n in cluster.masters() if n.command("KEYS", f"{prefix}*loss*") not in (None, []))
    replica = cluster.replica_of(holder)
    # The first 200 are on the replica before the kill (WAIT: acknowledged by one replica).
    assert holder.command("WAIT", 1, 5000) == 1
    acked_during = 0
    stop = threading.Event()

    raised: list[BaseException] = []

    def hammer() -> None:
        nonlocal acked_during
        try:
            while not stop.is_set():
                d = limiter.check("acct")  # an outage is answered by the policy, never raised
                acked_during += d.allowed and d.fallback is None
                time.sleep(0.005)
        except BaseException as e:
            raised.append(e)

    thread = threading.Thread(target=hammer)
    try:
        thread.start()
        time.sleep(PHASE)
        kill_at = mark("kill")
        holder.stop()
        failover_seconds = cluster.wait_promoted(replica)
        promoted_at = mark("promoted")
        time.sleep(2 * PHASE + RECOVERY_BOUND)
        stop.set()
        thread.join()
    finally:
        stop.set()
        reports = finish_workers(workers)
    deadline = time.monotonic() + 10
    while (peek := limiter.peek("acct", 0)).fallback is not None:
        assert time.monotonic() < deadline, "the store never answered from the promoted replica"
        time.sleep(0.05)
    stored = 10_000 - peek.remaining
    acked = replicated + acked_during
    lost = acked - stored
    recoveries = {"failover": [recovery(r, promoted_at, time.time()) for r in reports]}
    print_figures(
        f"Redis Cluster (3 masters, 3 replicas, cluster-node-timeout 1 s): master {holder.port} killed, "
        f"replica {replica.port} promoted after {failover_seconds:.2f} s:",
        reports,
        recoveries,
    )
    check_reports(reports)
    print(
        f"  count on the killed master: {acked} admissions acknowledged ({replicated} replicated before the "
        f"kill), {stored} in the promoted replica: {max(lost, 0)} lost"
        + (f", {-lost} charged but answered as an outage" if lost < 0 else "")
    )
    print(
        "  degraded moments per process around the kill: "
        + ", ".join(str(len(degraded_between(r, kill_at, promoted_at + RECOVERY_BOUND))) for r in reports)
    )
    assert not raised, raised
    for r, rec in zip(reports, recoveries["failover"]):
        assert rec < RECOVERY_BOUND, f"{r['lang']} {r['pid']}: still degraded {rec:.2f} s after the promotion"
    # What was replicated before the kill survives it: the store follows the promoted replica.
    assert stored >= replicated
    # After the promotion the count answers from Redis again.
    assert limiter.check("acct").fallback is None


def test_hosts_with_skewed_clocks_never_over_admit_an_exact_limit(
    redis_server: redis_harness.RedisServer,
) -> None:
    """Two app hosts, their clocks 3 s ahead and 3 s behind real time (two processes each), share one
    ``50/4s`` exact limit through one Redis. Their traffic lasts less than the window, so at most 50 may
    be admitted in all. The slow host starts 0.3 s first and takes the 50. With the production setting
    (no clock given to the store: the scripts read Redis's TIME) the fast host then gets nothing. The
    control gives each store its host's clock, as only tests should: the fast host then sees the slow
    host's admissions as 6 s old, out of the window, and admits again."""
    totals = {}
    for mode in ("redis", "host"):
        prefix = redis_harness.unique_prefix(f"skew-{mode}")
        start = time.time() + 4.0
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    str(PY_WORKER),
                    "skew",
                    redis_server.url,
                    prefix,
                    str(offset),
                    mode,
                    str(start if offset < 0 else start + 0.3),
                    "1.5" if offset < 0 else "1.2",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, "PYTHONPATH": str(ROOT / "python")},
            )
            for offset in (-3.0, -3.0, 3.0, 3.0)
        ]
        results = []
        for p in procs:
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
            results.append(json.loads(out))
        assert time.time() - start < 4.0, "the traffic outlasted the window: the test proves nothing"
        totals[mode] = results
    admitted = {mode: sum(r["admitted"] for r in rs) for mode, rs in totals.items()}
    checks = {mode: sum(r["checks"] for r in rs) for mode, rs in totals.items()}
    print(
        f"\nexact limit 50/4s, 2 hosts skewed by -3 s and +3 s, 2 processes each: Redis TIME admitted "
        f"{admitted['redis']} of {checks['redis']} checks; the hosts' own clocks admitted "
        f"{admitted['host']} of {checks['host']}"
    )
    fast = {mode: sum(r["admitted"] for r in rs if r["offset"] > 0) for mode, rs in totals.items()}
    assert (admitted["redis"], fast["redis"]) == (50, 0)
    assert admitted["host"] > 50 and fast["host"] > 0
