"""examples/demo_services.py, as `make demo` runs it: the example services started on free ports and
driven over HTTP, on the memory store and on a real Redis; every capability of the report shows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import redis_harness

ROOT = Path(__file__).resolve().parents[2]


def run_demo(redis_url: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "BASTION_REDIS_URL"}
    if redis_url:
        env["BASTION_REDIS_URL"] = redis_url
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo_services.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def check_report(out: str) -> None:
    for expected in (
        "login                    200  access ",
        "GET /api/me              200",
        "GET /api/me, no token    401  NOT_AUTHENTICATED",
        "burst of 110 reads       100 × 200, 10 × 429 (Retry-After: 60",
        "application/problem+json",
        "5 wrong passwords        401 401 401 401 429  (the 5th locks: Retry-After 900)",
        "then the right one       429  ACCOUNT_LOCKED",
        "the old refresh again 401 TOKEN_REUSED; the newest 401 TOKEN_REVOKED",
        "50 identical requests    50 × 200, 1 upstream call",
        "failing upstream         502 502 502",
        "503 CIRCUIT_OPEN in ",
        "(Retry-After: 60), 0 upstream calls",
    ):
        assert expected in out, f"{expected!r} missing from:\n{out}"


def test_the_demo_on_the_memory_store() -> None:
    out = run_demo(None)
    assert "the embedded memory store" in out
    check_report(out)


def test_the_demo_on_redis(redis_server: redis_harness.RedisServer) -> None:
    out = run_demo(redis_server.url)
    assert f"Redis at {redis_server.url}" in out
    check_report(out)
