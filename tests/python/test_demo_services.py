"""examples/demo_services.py, as `make demo` runs it: the example services started on free ports and
driven over HTTP, on the memory store and on a real Redis; every capability of the report shows."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import redis_harness

ROOT = Path(__file__).resolve().parents[2]


def settle(out: str) -> str:
    """The report with each Retry-After a few seconds short of a window (60 s, 15 min, 1 h) shown
    as that window: the services count on the real clock, and a loaded machine may take a second
    or two between the first request of a window and the refused one."""

    def snap(m: re.Match[str]) -> str:
        v = int(m.group(2))
        full = next((w for w in (60, 900, 3600) if w - 5 <= v <= w), v)
        return f"{m.group(1)}{full}"

    return re.sub(r"(Retry-After:? )(\d+)", snap, out)


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
    return settle(done.stdout)


SERVICES = ("FastAPI", "Express")


def check_report(out: str) -> None:
    blocks = out.split("\n== ")
    for name in SERVICES:
        block = next(b for b in blocks if b.startswith(f"{name} (examples/"))
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
        ):
            assert expected in block, f"{expected!r} missing from {name}'s report:\n{out}"
    django = next(b for b in blocks if b.startswith("Django (examples/django_app"))
    for expected in (
        "login                    200  tokens in HttpOnly cookies: access_token, refresh_token",
        "POST without CSRF        403",
        "6 logins, one address    401 401 401 401 401 429  (5 per 15 minutes: Retry-After 900)",
        "10 wrong passwords       " + "401 " * 9 + "429",
        "then the right one       429  (Retry-After 3600)",
        'the old refresh again 401 "Token is blacklisted"; the newest 401',
        "10 identical requests    10 × 200, 1 upstream call",
    ):
        assert expected in django, f"{expected!r} missing from Django's report:\n{out}"
    breaker = next(b for b in blocks if b.startswith("A failing upstream")).splitlines()[1:]
    assert [row.split()[0] for row in breaker] == [*SERVICES, "Django"], out
    assert "502 502 502 (each after 300 ms), then 503 CIRCUIT_OPEN in " in breaker[0], out
    assert "502 502 502 (each after 300 ms), then 503 Identification unavailable in " in breaker[2], out
    for row in breaker:
        assert " 503 " in row and "0 upstream calls" in row, out


def test_the_demo_on_the_memory_store() -> None:
    out = run_demo(None)
    assert "the embedded memory store" in out
    check_report(out)
    # Each service has its own breaker in its own memory.
    assert out.count("502 502 502 (each after 300 ms)") == 3


def test_the_demo_on_redis(redis_server: redis_harness.RedisServer) -> None:
    out = run_demo(redis_server.url)
    assert f"Redis at {redis_server.url}" in out
    check_report(out)
    # One breaker through Redis: the first service opened it for the second.
    breaker = out.split("A failing upstream")[1].split("\n==")[0]
    assert "already open (shared through Redis): 503 CIRCUIT_OPEN" in breaker, breaker
    shared = out.split("sharing one Redis")[1]
    assert "FastAPI 50 × 200 + 5 × 429, Express 50 × 200 + 5 × 429: 100 admitted in all" in shared
    assert "FastAPI 401, Express 401, FastAPI 401, Express 401, FastAPI 429" in shared
    assert "FastAPI 429 ACCOUNT_LOCKED, Express 429 ACCOUNT_LOCKED" in shared
