"""The metrics and health views of bastion.django.observability, through Django's test client."""

from __future__ import annotations

import re

from bastion import CircuitBreaker, RateLimiter, Store
from django.test import Client, override_settings

SAMPLE = re.compile(r'^[a-z_]+(\{(?:[a-z_]+="(?:[^"\\]|\\.)*",?)*\})? \d+$')


@override_settings(ROOT_URLCONF="bastion.django.observability")
def test_metrics_view_serves_the_prometheus_text() -> None:
    limiter = RateLimiter("1/minute", store=Store(), name="django-obs")
    assert [limiter.check("u1").allowed for _ in range(2)] == [True, False]
    response = Client().get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    lines = [line for line in response.content.decode().splitlines() if not line.startswith("#")]
    assert all(SAMPLE.match(line) for line in lines), lines
    assert 'bastion_ratelimit_decisions_total{limiter="django-obs",result="denied"} 1' in lines
    assert Client().post("/metrics").status_code == 405


@override_settings(ROOT_URLCONF="bastion.django.observability")
def test_health_view_answers_503_while_a_store_is_unreachable() -> None:
    breaker = CircuitBreaker("django-obs-breaker")
    response = Client().get("/health")
    assert response.status_code == (200 if response.json()["ok"] else 503)
    assert {"name": "django-obs-breaker", "state": "closed", "mode": "local"} in response.json()["breakers"]
    dead = Store("redis://127.0.0.1:1/0", timeout=0.05, connect_timeout=0.05)
    response = Client().get("/health")
    assert response.status_code == 503
    assert any(not s["reachable"] and "127.0.0.1:1" in s["url"] for s in response.json()["stores"])
    del dead, breaker
