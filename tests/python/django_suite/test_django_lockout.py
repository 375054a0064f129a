"""Lockout with django-axes' settings through Django's test client, on memory and on Redis: the
JWT login view, a plain form view behind LockoutMiddleware, the user_locked_out signal, the
management commands, exact counts under concurrent failures."""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from bastion import ManualClock
from bastion.django.lockout import get_lockout
from bastion.django.signals import user_locked_out
from django.contrib.auth import aauthenticate
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import AsyncClient, Client, RequestFactory

PW = "a long enough passphrase"


def login(client: Client, username: str = "alice", password: str = PW, **extra: Any) -> Any:
    body = {"username": username, "password": password}
    return client.post("/api/token/", body, content_type="application/json", **extra)


@pytest.fixture
def alice(configure: Any) -> User:
    return User.objects.create_user("alice", password=PW)


@pytest.fixture
def locked_out() -> Any:
    sent: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        sent.append(kwargs)

    user_locked_out.connect(receiver)
    yield sent
    user_locked_out.disconnect(receiver)


def test_lock_after_failure_limit_and_cooloff(alice: User, clock: ManualClock, locked_out: list[Any]) -> None:
    c = Client()
    assert [login(c, password="wrong").status_code for _ in range(2)] == [401, 401]
    third = login(c, password="wrong")  # AXES_FAILURE_LIMIT = 3: this failure locks
    assert third.status_code == 429 and third["Retry-After"] == "1800"  # AXES_COOLOFF_TIME = 0.5 hours
    assert third["Content-Type"] == "application/problem+json"
    assert third.json()["status"] == 429 and third.json()["retry_after"] == 1800
    assert len(locked_out) == 1
    event = locked_out[0]
    assert event["username"] == "alice" and event["ip_address"] == "127.0.0.1"
    assert event["retry_after"] == 1800 and event["request"] is not None
    assert sorted(event["parameters"]) == ["ip_address", "username"]  # both keys locked, one signal
    clock.advance(600)
    right = login(c)  # the right password during the lock is refused without being checked
    assert right.status_code == 429 and right["Retry-After"] == "1800"  # and restarted the cool-off
    clock.advance(1799)
    state = get_lockout().check("alice", "127.0.0.1")  # reading never extends the lock
    assert state.locked and state.retry_after == 1
    clock.advance(1)
    assert login(c).status_code == 200
    assert len(locked_out) == 1


def test_unknown_users_lock_the_same_way(alice: User) -> None:
    c = Client()
    ghost = [login(c, "nobody", "wrong", REMOTE_ADDR="10.0.0.7") for _ in range(4)]
    real = [login(c, "alice", "wrong", REMOTE_ADDR="10.0.0.8") for _ in range(4)]
    assert [r.status_code for r in ghost] == [r.status_code for r in real] == [401, 401, 429, 429]
    assert ghost[-1].json() == real[-1].json()


def test_lockout_parameters_and_reset_on_success(alice: User, configure: Any) -> None:
    configure(AXES_LOCKOUT_PARAMETERS=[["username", "ip_address"]])
    c = Client()
    assert [login(c, password="x", REMOTE_ADDR="10.0.0.1").status_code for _ in range(3)] == [401, 401, 429]
    assert login(c, REMOTE_ADDR="10.0.0.2").status_code == 200  # the pair is locked, not the account

    configure(AXES_LOCKOUT_PARAMETERS=["username"], AXES_RESET_ON_SUCCESS=True)
    User.objects.create_user("bob", password=PW)
    assert [login(c, "bob", "x").status_code for _ in range(2)] == [401, 401]
    assert login(c, "bob").status_code == 200  # resets bob's count
    assert [login(c, "bob", "x").status_code for _ in range(2)] == [401, 401]

    configure(AXES_LOCKOUT_PARAMETERS=["username"], AXES_RESET_ON_SUCCESS=False)
    User.objects.create_user("carol", password=PW)
    assert [login(c, "carol", "x").status_code for _ in range(2)] == [401, 401]
    assert login(c, "carol").status_code == 200  # counts stay (django-axes' default)
    assert login(c, "carol", "x").status_code == 429


def test_form_view_behind_middleware_and_status(alice: User, configure: Any) -> None:
    c = Client()
    form = [c.post("/accounts/login/", {"username": "alice", "password": "x"}) for _ in range(3)]
    assert [r.status_code for r in form] == [401, 401, 429]
    assert form[-1]["Retry-After"] == "1800"
    assert c.post("/accounts/login/", {"username": "alice", "password": PW}).status_code == 429


def test_lockout_status_setting(alice: User, configure: Any) -> None:
    configure(AXES_HTTP_RESPONSE_CODE=403)
    c = Client()
    assert [login(c, password="x").status_code for _ in range(3)] == [401, 401, 403]


def test_management_commands(alice: User) -> None:
    c = Client()
    for _ in range(3):
        login(c, password="wrong")
    out = io.StringIO()
    call_command("bastion_lockouts", stdout=out)
    assert "username=alice  retry after 1800 s" in out.getvalue()
    assert "ip_address=127.0.0.1" in out.getvalue()
    out = io.StringIO()
    call_command("bastion_lockouts", "--json", stdout=out)
    assert '"username": "alice"' in out.getvalue()
    with pytest.raises(CommandError):
        call_command("bastion_unlock")
    out = io.StringIO()
    call_command("bastion_unlock", "--username", "alice", "--ip", "127.0.0.1", stdout=out)
    assert "Removed 2 lockout record(s)." in out.getvalue()
    assert login(c).status_code == 200
    out = io.StringIO()
    call_command("bastion_lockouts", stdout=out)
    assert out.getvalue().strip() == "No account is locked."


def test_async_login_asgi(alice: User) -> None:
    async def go() -> list[int]:
        c = AsyncClient()
        body = {"username": "alice", "password": "wrong"}
        return [
            (await c.post("/api/token/", body, content_type="application/json")).status_code for _ in range(4)
        ]

    assert async_to_sync(go)() == [401, 401, 429, 429]


def test_aauthenticate(alice: User) -> None:
    request = RequestFactory().post("/login", REMOTE_ADDR="192.0.2.1")
    results = [
        async_to_sync(aauthenticate)(request, username="alice", password=pw) for pw in ("x", "y", "z", PW)
    ]
    assert results == [None] * 4  # the third failure locked; the right password is then refused
    assert get_lockout().check("alice", "192.0.2.1").locked


@pytest.mark.committed
def test_concurrent_failures_are_counted_exactly(alice: User) -> None:
    statuses: list[int] = []
    barrier = threading.Barrier(16)

    def attempt() -> None:
        c = Client()
        barrier.wait()
        statuses.append(login(c, password="wrong").status_code)

    threads = [threading.Thread(target=attempt) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Exactly AXES_FAILURE_LIMIT - 1 failures answer 401; the third locks, every later one is refused.
    assert sorted(statuses) == [401, 401] + [429] * 14
