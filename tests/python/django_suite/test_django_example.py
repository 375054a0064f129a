"""examples/django_app (reference deployment 1 on bastion) passes its own Django tests, on the memory
store and on a real Redis: login 5/15 min, registration 3/h, token refresh 10/h, password reset 3/h,
lockout after 10 failures for an hour with an e-mail, cookie JWT with CSRF, the identification
endpoint's breaker (3 failures, 60 s, 2 successes) and single flight (10 requests, 1 upstream call)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "django_app"


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_example_project(store: str, request: pytest.FixtureRequest) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DJANGO_SETTINGS_MODULE", "REDIS_URL", "DJANGO_DEBUG")
    }
    env["DJANGO_SECRET_KEY"] = secrets.token_urlsafe(50)
    env["JWT_SIGNING_KEY"] = secrets.token_urlsafe(50)
    if store == "redis":
        env["REDIS_URL"] = request.getfixturevalue("redis_server").url

    def manage(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "manage.py", *args]
        return subprocess.run(command, cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=300)

    deploy = manage("check", "--deploy", "--fail-level", "WARNING")
    # Production settings pass bastion's deploy checks (Django's own HSTS advice aside).
    assert "bastion." not in deploy.stdout + deploy.stderr, deploy.stdout + deploy.stderr
    run = manage("test", "plantid", "-v", "2")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Ran 10 tests" in run.stderr and "OK" in run.stderr
