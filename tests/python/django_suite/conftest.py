"""Django for the bastion.django tests: the settings module beside this file, a test database, and
the ``bastion`` fixture that points ``settings.BASTION`` at the memory store or a real Redis."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import django
import pytest
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_suite.bastion_test_settings")
if settings.configured and "bastion.django" not in settings.INSTALLED_APPS:
    raise pytest.UsageError(
        "Django was configured before tests/python/django_suite was collected; "
        "run these tests first or in their own pytest run"
    )
django.setup()

from bastion import ManualClock  # noqa: E402 - the clock fixture's type
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test.utils import override_settings, setup_test_environment, teardown_test_environment  # noqa: E402

Configure = Callable[..., None]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "committed: the test's database writes are committed, then flushed")


@pytest.fixture(scope="session", autouse=True)
def _test_database() -> Iterator[None]:
    setup_test_environment()
    name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    yield
    connection.creation.destroy_test_db(name, verbosity=0)
    teardown_test_environment()


@pytest.fixture(autouse=True)
def _rollback(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test's database writes are rolled back; a test marked ``committed`` (other threads must
    read its rows) commits them and has every table emptied afterwards."""
    if request.node.get_closest_marker("committed"):
        try:
            yield
        finally:
            call_command("flush", interactive=False, verbosity=0)
        return
    atomic = transaction.atomic()
    atomic.__enter__()
    try:
        yield
    finally:
        transaction.set_rollback(True)
        atomic.__exit__(None, None, None)


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest, clock: ManualClock, redis_prefix: str) -> dict[str, Any]:
    """``settings.BASTION`` for the parametrised store, driven by ``clock``."""
    base: dict[str, Any] = {"CLOCK": clock, "KEY_PREFIX": redis_prefix}
    if request.param == "redis":
        base["STORE"] = request.getfixturevalue("redis_server").url
        base["STORE_OPTIONS"] = {"timeout": 2.0}
    return base


@pytest.fixture
def configure(backend: dict[str, Any]) -> Iterator[Configure]:
    """``configure(bastion={...}, **settings)``: overrides for this test, over ``backend``."""
    active: list[Any] = []

    def apply(bastion: dict[str, Any] | None = None, **django_settings: Any) -> None:
        o = override_settings(BASTION={**backend, **(bastion or {})}, **django_settings)
        o.enable()
        active.append(o)

    apply()
    yield apply
    for o in reversed(active):
        o.disable()
