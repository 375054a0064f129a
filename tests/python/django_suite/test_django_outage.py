"""What bastion.django answers while Redis is down: each component's outage policy, within the
store's timeout (a real server, stopped)."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client, override_settings

PW = "a long enough passphrase"
RULES = [
    {"name": "login", "rate": "100/minute", "paths": ["/api/token/"]},  # a login path: fail_closed
    {"name": "pages", "rate": "2/minute", "paths": ["/sync/"]},  # local: per process while down
]


@pytest.fixture
def down(fresh_redis_server: Any, clock: Any, redis_prefix: str) -> Any:
    bastion = {
        "STORE": fresh_redis_server.url,
        "STORE_OPTIONS": {"timeout": 0.05},
        "KEY_PREFIX": redis_prefix,
        "CLOCK": clock,
        "RATELIMIT_RULES": RULES,
    }
    with override_settings(BASTION=bastion):
        User.objects.create_user("alice", password=PW)
        c = Client()
        pair = c.post("/api/token/", {"username": "alice", "password": PW}, content_type="application/json")
        assert pair.status_code == 200
        fresh_redis_server.stop()
        yield c, pair.json()


def test_tokens_fail_closed_with_503(down: Any) -> None:
    c, pair = down
    r = c.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
    assert r.status_code == 503 and r.json()["detail"] == "Authentication is temporarily unavailable."


def test_login_limit_fails_closed_and_others_fall_back_to_local(down: Any) -> None:
    c, _ = down
    r = c.post("/api/token/", {"username": "alice", "password": PW}, content_type="application/json")
    assert r.status_code == 429 and r["Retry-After"] == "1"
    assert [c.get("/sync/").status_code for _ in range(3)] == [200, 200, 429]


def test_lockout_counts_locally(down: Any) -> None:
    c, _ = down
    with override_settings(BASTION={**settings.BASTION, "RATELIMIT_RULES": []}):
        codes = [
            c.post(
                "/api/token/", {"username": "alice", "password": "x"}, content_type="application/json"
            ).status_code
            for _ in range(4)
        ]
    assert codes == [401, 401, 429, 429]  # AXES_FAILURE_LIMIT = 3, counted in this process
