"""Security events through ``logging``, the Prometheus text after real operations, the health
snapshot, and the Django and FastAPI endpoints. Metrics are per process: each test names its own
components and reads only its own series (or differences)."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest
from bastion import (
    CircuitBreaker,
    Key,
    Lockout,
    ManualClock,
    RateLimiter,
    Store,
    TokenService,
    add_event_listener,
    hash_password,
    health,
    metrics,
)
from bastion.exceptions import AccountLockedError, InvalidSignatureError, TokenReusedError
from bastion.observability import CONTENT_TYPE, log_events
from conftest import HMAC_SECRET, NOW, StoreFactory

SAMPLE = re.compile(r'^([a-z_]+)(\{(?:[a-z_]+="(?:[^"\\]|\\.)*",?)*\})? (\d+)$')


def parse(text: str) -> dict[str, int]:
    """The samples of a Prometheus text, every line checked against the format."""
    samples: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith(("# HELP ", "# TYPE ")):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a Prometheus sample: {line!r}"
        key = m.group(1) + (m.group(2) or "")
        assert key not in samples, f"{key} twice"
        samples[key] = int(m.group(3))
    return samples


def test_rate_limit_decisions_and_denials(make_store: StoreFactory, caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock(NOW)
    limiter = RateLimiter("2/minute", store=make_store(clock), name="obs-rl")
    before = parse(metrics())
    allowed = 'bastion_ratelimit_decisions_total{limiter="obs-rl",result="allowed"}'
    denied = 'bastion_ratelimit_decisions_total{limiter="obs-rl",result="denied"}'
    with caplog.at_level(logging.WARNING, logger="bastion"):
        results = [limiter.check("10.0.0.1").allowed for _ in range(3)]
    assert results == [True, True, False]
    after = parse(metrics())
    assert after[allowed] - before.get(allowed, 0) == 2
    assert after[denied] - before.get(denied, 0) == 1
    records = [r for r in caplog.records if r.name == "bastion.ratelimit"]
    assert [r.getMessage() for r in records] == [
        '[RATELIMIT] rate_limited limiter="obs-rl" key="10.0.0.1" rate="2/minute" retry_after="60"'
    ]
    assert records[0].levelno == logging.WARNING
    assert records[0].bastion_event["limiter"] == "obs-rl"  # type: ignore[attr-defined]


def test_token_events_and_metrics_never_carry_tokens_or_secrets(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[dict[str, Any]] = []
    add_event_listener(lambda e: seen.append(e) if "obs-subject" in str(e.values()) else None)
    log_events(logging.INFO)
    clock = ManualClock(NOW)
    svc = TokenService(Key.hmac(HMAC_SECRET), store=Store(clock=clock), clock=clock)
    failed = 'bastion_token_verifications_total{kind="access",result="failed",reason="invalid_signature"}'
    before = parse(metrics())
    with caplog.at_level(logging.INFO, logger="bastion"):
        pair = svc.issue_pair("obs-subject")
        svc.verify(pair.access)
        forged = pair.access[:-2] + ("AA" if not pair.access.endswith("AA") else "BB")
        with pytest.raises(InvalidSignatureError):
            svc.verify(forged)
        svc.rotate(pair.refresh)
        with pytest.raises(TokenReusedError):
            svc.rotate(pair.refresh)
        svc.revoke_all("obs-subject")
    after = parse(metrics())
    assert after[failed] - before.get(failed, 0) == 1
    assert after["bastion_token_reuse_total"] - before.get("bastion_token_reuse_total", 0) == 1

    security = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "bastion.security"]
    assert [(level, message.split()[1]) for level, message in security] == [
        (logging.ERROR, "token_reuse"),
        (logging.INFO, "token_revoked"),
    ]
    assert any(r.getMessage().startswith("[AUTH] auth_succeeded") for r in caplog.records)
    refused = '[AUTH] auth_failed kind="access" reason="INVALID_SIGNATURE"'
    assert any(r.getMessage() == refused for r in caplog.records)
    names = {e["event"] for e in seen}
    assert {"auth_succeeded", "token_reuse", "token_revoked"} <= names

    # Every field of every event and every log line: no token, no segment of one, no secret.
    texts = [str(v) for e in seen for v in e.values()] + [r.getMessage() for r in caplog.records]
    segments = [s for t in (pair.access, pair.refresh, forged) for s in t.split(".") if len(s) > 8]
    for text in texts:
        assert HMAC_SECRET not in text
        for s in segments:
            assert s not in text


def test_lockout_events_never_carry_the_password(caplog: pytest.LogCaptureFixture) -> None:
    password = "correct horse battery staple 42"
    encoded = hash_password(password)
    clock = ManualClock(NOW)
    lockout = Lockout(Store(clock=clock), name="obs-lockout", failure_limit=2, cooloff=timedelta(minutes=5))
    with caplog.at_level(logging.INFO, logger="bastion"):
        for _ in range(2):
            with contextlib.suppress(AccountLockedError):
                assert not lockout.login("obs-user", "wrong " + password, encoded, ip_address="192.0.2.7")
        lockout.unlock(username="obs-user")
    samples = parse(metrics())
    assert samples['bastion_lockouts_total{lockout="obs-lockout"}'] == 2
    assert samples['bastion_unlocks_total{lockout="obs-lockout"}'] == 1
    lines = [r.getMessage() for r in caplog.records if r.name == "bastion.lockout"]
    assert [line.split()[1] for line in lines] == ["locked_out", "locked_out", "unlocked"]
    for line in lines:
        assert password not in line and encoded not in line


def test_breaker_state_and_health() -> None:
    clock = ManualClock(NOW)
    breaker = CircuitBreaker("obs-breaker", fail_max=1, reset_timeout=30, clock=clock)
    with pytest.raises(ZeroDivisionError):
        breaker.call(lambda: 1 / 0)
    samples = parse(metrics())
    assert samples['bastion_breaker_state{breaker="obs-breaker"}'] == 1
    assert samples['bastion_breaker_transitions_total{breaker="obs-breaker",to="open"}'] == 1
    snapshot = health()
    assert {"name": "obs-breaker", "state": "open", "mode": "local"} in snapshot["breakers"]
    clock.advance(30)
    assert parse(metrics())['bastion_breaker_state{breaker="obs-breaker"}'] == 2


def test_health_reports_an_unreachable_redis_without_its_password() -> None:
    dead = Store("redis://:hunter2-secret@127.0.0.1:1/0", timeout=0.05, connect_timeout=0.05)
    snapshot = health()
    assert snapshot["ok"] is False
    entry = next(s for s in snapshot["stores"] if "127.0.0.1:1/0" in s["url"])
    assert entry["reachable"] is False and entry["error"] == "STORE_UNAVAILABLE"
    assert "hunter2" not in str(snapshot)
    del dead


FALLBACK_CHILD = """
import json, re
from bastion import Lockout, RateLimiter, Store, health, metrics
from bastion._native import SharedCache
dead = Store("redis://127.0.0.1:1/0", timeout=0.05, connect_timeout=0.05)
# Each keeps an in-process fallback store for its outage policy "local".
limiter = RateLimiter("5/minute", store=dead, name="obs-fallback")
lockout = Lockout(store=dead)
cache = SharedCache(dead, namespace="obsfallback")
mine = Store()
assert limiter.hit("alice").allowed  # decided on the fallback store: Redis is down
gauges = dict(re.findall(r"^(bastion_[a-z_]+_keys) (\\d+)$", metrics(), re.M))
print(json.dumps({"stores": [[s["kind"], s["url"]] for s in health()["stores"]], "gauges": gauges}))
"""


def test_health_lists_the_configured_stores_not_the_outage_fallbacks() -> None:
    # A fresh process: its only stores are the ones made here.
    out = subprocess.run(
        [sys.executable, "-c", FALLBACK_CHILD], capture_output=True, text=True, timeout=60, check=True
    )
    seen = json.loads(out.stdout)
    assert sorted(seen["stores"]) == [["memory", "memory://"], ["redis", "redis://127.0.0.1:1/0"]]
    assert seen["gauges"]["bastion_memory_store_keys"] == "0"
    assert int(seen["gauges"]["bastion_fallback_store_keys"]) >= 1


def test_redis_store_round_trips_are_counted(redis_server: Any, redis_prefix: str) -> None:
    store = Store(redis_server.url, timeout=2.0, prefix=redis_prefix)
    ok = 'bastion_store_operations_total{store="redis",result="ok"}'
    before = parse(metrics()).get(ok, 0)
    store.ping()
    RateLimiter("5/minute", store=store, name="obs-redis").check("k")
    assert parse(metrics())[ok] - before >= 2
    entry = next(s for s in health()["stores"] if s["url"] == redis_server.url)
    assert entry["reachable"] is True and entry["ping_ms"] >= 0


def test_fastapi_routes() -> None:
    from bastion.fastapi import observability_router
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    keep = CircuitBreaker("obs-fastapi")
    app = FastAPI()
    app.include_router(observability_router())
    client = TestClient(app)
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"] == CONTENT_TYPE
    assert parse(r.text)['bastion_breaker_state{breaker="obs-fastapi"}'] == 0
    h = client.get("/health")
    assert h.json()["ok"] == (h.status_code == 200)
    assert {"name": "obs-fastapi", "state": "closed", "mode": "local"} in h.json()["breakers"]
    del keep


def test_event_listener_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        add_event_listener(print, "verbose")
