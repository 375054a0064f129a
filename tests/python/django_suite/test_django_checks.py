"""System checks and the per-process components of bastion.django."""

from __future__ import annotations

import os
from typing import Any

import pytest
from bastion import Store
from bastion.django import conf
from django.core.checks import run_checks

STRONG = "Wq3r8-Lm0v_PzXc7Tn2Kb5Hy9Jd4Fs6Ga1Re0Uo3Ii8Ee7Aa2Qw5Zx9Cv4Bn1Mm6Ll"
JWT_KEY = "jS8-fK2_qL9xVb4Rt7Np0Wc3Zm6Hd1Ya5Ge8Tu2Io4Pl7Kj0Mn3Bv6Cx9Za1Sd5Fg8Hq"


def ids(deploy: bool = False) -> set[str]:
    return {m.id for m in run_checks(include_deployment_checks=deploy) if m.id.startswith("bastion.")}


def test_the_test_project_is_clean(configure: Any) -> None:
    assert ids(deploy=True) == set()


def test_weak_secret_key_in_deploy_checks(configure: Any) -> None:
    configure(SECRET_KEY="django-insecure-" + STRONG)
    assert ids() == set() and ids(deploy=True) == {"bastion.E003"}
    configure(SECRET_KEY="changeme" * 8)
    assert "bastion.E003" in ids(deploy=True)


def test_jwt_key_equal_to_secret_key(configure: Any) -> None:
    configure(SIMPLE_JWT={})  # SIGNING_KEY falls back to SECRET_KEY, as in simplejwt
    assert "bastion.E002" in ids()
    configure(SIMPLE_JWT={}, DEBUG=True)
    assert ids() == {"bastion.W002"}
    configure(SIMPLE_JWT={"SIGNING_KEY": "short-key"})
    assert "bastion.E004" in ids(deploy=True)


def test_memory_store_with_several_workers(configure: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(bastion={"STORE": "memory://"})
    monkeypatch.setenv("WEB_CONCURRENCY", "4")
    assert "bastion.W005" in ids()
    monkeypatch.delenv("WEB_CONCURRENCY")
    monkeypatch.setenv("GUNICORN_CMD_ARGS", "--bind 0.0.0.0:8000 --workers=3")
    assert "bastion.W005" in ids()
    monkeypatch.setenv("GUNICORN_CMD_ARGS", "-w 1")
    assert "bastion.W005" not in ids()
    configure(bastion={"STORE": "memory://", "WORKERS": 2})
    assert "bastion.W005" in ids()
    configure(bastion={"STORE": "redis://127.0.0.1:1/0", "WORKERS": 8})
    assert "bastion.W005" not in ids()


def test_fail_open_login_limits(configure: Any) -> None:
    configure(bastion={"OUTAGE_POLICY": {"LOGIN_RATELIMIT": "fail_open"}})
    assert "bastion.W006" in ids()
    configure(bastion={"OUTAGE_POLICY": {"LOCKOUT": "fail_open"}})
    assert "bastion.W006" in ids()
    rule = {"name": "login", "rate": "5/15m", "paths": ["/api/token/"], "outage_policy": "fail_open"}
    configure(bastion={"RATELIMIT_RULES": [rule]})
    assert "bastion.W006" in ids()
    configure(bastion={"RATELIMIT_RULES": [{**rule, "paths": ["/api/reports/"]}]})
    assert "bastion.W006" not in ids()


def test_bad_settings_fail_the_check(configure: Any) -> None:
    configure(bastion={"RATELIMIT_RULES": [{"name": "x", "rate": "5/fortnight"}]})
    assert "bastion.E001" in ids()
    configure(SIMPLE_JWT={"SIGNING_KEY": JWT_KEY, "JTI_CLAIM": "id"})
    assert "bastion.E001" in ids()
    configure(AXES_LOCKOUT_PARAMETERS=["url_path"])
    assert "bastion.E001" in ids()


@pytest.mark.parametrize("status", [200, 503, 499, "teapot"])
def test_a_lockout_status_that_is_not_a_4xx_fails_the_check(configure: Any, status: Any) -> None:
    # Found at start-up, not as a server error on the first locked attempt.
    configure(AXES_HTTP_RESPONSE_CODE=status)
    assert "bastion.E001" in ids()


def test_django_axes_403_is_a_lockout_status(configure: Any) -> None:
    configure(AXES_HTTP_RESPONSE_CODE=403)
    assert "bastion.E001" not in ids()


def test_axes_permanent_lock_is_reported(configure: Any) -> None:
    configure(AXES_COOLOFF_TIME=None)
    assert ids() == {"bastion.W007"}


def test_unknown_bastion_keys_are_reported(configure: Any) -> None:
    configure(bastion={"STORE_URL": "redis://x"})  # a typo must not silently fall back to memory
    assert "bastion.E001" in ids()


def test_one_store_per_process_rebuilt_after_fork(configure: Any) -> None:
    store = conf.get_store()
    limiter = conf.limiter("forked", "5/minute")
    assert isinstance(store, Store) and conf.get_store() is store
    assert limiter.check("k") and conf.limiter("forked", "5/minute") is limiter
    pid = os.fork()  # what gunicorn does to its workers
    if pid == 0:  # the child: its own store and limiter, which work (on Redis: its own connection)
        ok = conf.get_store() is not store and conf.limiter("forked", "5/minute") is not limiter
        ok = ok and bool(conf.limiter("forked", "5/minute").check("k"))
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert conf.get_store() is store


WITHOUT_DRF = """
import sys
sys.modules["rest_framework"] = None  # a project without Django REST framework
import django
from django.conf import settings
from django.http import HttpResponse
from django.urls import path

urlpatterns = [path("", lambda request: HttpResponse("ok"))]
settings.configure(
    SECRET_KEY=%(secret)r,
    ALLOWED_HOSTS=["testserver"],
    ROOT_URLCONF="__main__",
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "bastion.django"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    PASSWORD_HASHERS=["bastion.django.hashers.PBKDF2PasswordHasher"],
    AUTHENTICATION_BACKENDS=[
        "bastion.django.lockout.LockoutBackend",
        "django.contrib.auth.backends.ModelBackend",
    ],
    MIDDLEWARE=["bastion.django.middleware.RateLimitMiddleware", "bastion.django.lockout.LockoutMiddleware"],
    BASTION={"RATELIMIT_RULES": [{"name": "all", "rate": "2/minute"}]},
)
django.setup()
from django.contrib.auth.hashers import check_password, make_password
from django.core.management import call_command
from django.test import Client

call_command("check", fail_level="WARNING")
assert check_password("pw", make_password("pw"))
assert [Client().get("/").status_code for _ in range(3)] == [200, 200, 429]
print("ok")
"""


def test_works_without_drf() -> None:
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-c", WITHOUT_DRF % {"secret": STRONG}], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.splitlines() == ["System check identified no issues (0 silenced).", "ok"]
