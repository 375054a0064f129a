"""Lockout, account lockout after failed logins, from Python: every case on memory, a real Redis and a
real Redis Cluster, with time from a ManualClock."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta
from typing import Any

import bastion
import pytest
import redis_harness
from bastion import (
    AccountLockedError,
    InvalidArgumentError,
    Lockout,
    LockoutState,
    ManualClock,
    Store,
    StoreUnavailableError,
    _native,
)
from bastion.password import hash_password
from conftest import NOW, StoreFactory

# Hashing costs little in tests; the lockout only needs some hash to verify.
FAST = _native.PasswordHasher("pbkdf2_sha256", iterations=1000)


def test_axes_settings_lock_for_the_cooloff(make_store: StoreFactory) -> None:
    clock = ManualClock(NOW)
    # Reference deployment 3: django-axes, 5 failures, 30 minutes.
    lockout = Lockout(make_store(clock), failure_limit=5, cooloff=timedelta(minutes=30))
    assert lockout.cooloff == 1800
    for i in range(1, 5):
        state = lockout.record_failure("alice", "10.0.0.1")
        assert isinstance(state, LockoutState)
        assert (state.locked, state.failures, state.remaining) == (False, i, 5 - i)
    assert lockout.check("alice", "10.0.0.1").failures == 4
    state = lockout.record_failure(username="alice", ip_address="10.0.0.1")
    assert state.locked and state.retry_after == 1800 and state.remaining == 0
    assert state.locked_until == NOW + 1800
    assert state.parameters == ["username"]
    assert "alice" not in repr(state)
    with pytest.raises(AccountLockedError) as info:
        state.raise_if_locked()
    assert info.value.retry_after == 1800
    # Another process on the same store sees it, from any address.
    other = Lockout(make_store(clock), failure_limit=5, cooloff="30m")
    assert other.check("ALICE ").locked
    assert other.check("mallory", "10.0.0.1").locked
    assert not other.check("bob", "10.0.0.2").locked
    other.check("bob").raise_if_locked()
    clock.advance(1799)
    assert lockout.check("alice").retry_after == 1
    clock.advance(1)
    state = lockout.check("alice")
    assert not state.locked and state.failures == 0


def test_reference_deployment_one_hour_and_progressive(make_store: StoreFactory) -> None:
    clock = ManualClock(NOW)
    lockout = Lockout(make_store(clock))
    assert (lockout.failure_limit, lockout.cooloff, lockout.name) == (10, 3600, "login")
    assert lockout.parameters == [["username"], ["ip_address"]]
    for _ in range(10):
        state = lockout.record_failure("carol")
    assert state.locked and state.retry_after == 3600

    growing = Lockout(
        make_store(clock),
        name="grow",
        failure_limit=2,
        cooloff=60,
        extend_on_failure=False,
        progressive={"factor": 2, "max_cooloff": "3m", "memory": timedelta(hours=1)},
    )
    seen = []
    for _ in range(4):
        growing.record_failure("dave")
        state = growing.record_failure("dave")
        seen.append(state.retry_after)
        clock.advance(state.retry_after)
    assert seen == [60, 120, 180, 180]


def test_axes_combination_parameters(make_store: StoreFactory) -> None:
    clock = ManualClock(NOW)
    axes = ["ip_address", ["username", "user_agent"]]
    lockout = Lockout(make_store(clock), failure_limit=3, parameters=axes)
    assert lockout.parameters == [["ip_address"], ["username", "user_agent"]]
    for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        lockout.record_failure("gina", ip, "curl/8")
    state = lockout.check("gina", "10.9.9.9", "curl/8")
    assert state.locked and state.parameters == ["username", "user_agent"]
    assert not lockout.check("gina", "10.9.9.9", "Firefox").locked
    with pytest.raises(InvalidArgumentError):
        Lockout(parameters=["password"])
    with pytest.raises(TypeError):
        Lockout(parameters="username")


def test_success_resets_the_user_not_the_address(make_store: StoreFactory) -> None:
    clock = ManualClock(NOW)
    lockout = Lockout(make_store(clock), failure_limit=3)
    lockout.record_failure("victim1", "10.0.0.7")
    lockout.record_failure("victim2", "10.0.0.7")
    lockout.record_failure("owner", "10.0.0.7")
    lockout.record_success("owner", "10.0.0.7")
    state = lockout.check("owner", "10.0.0.7")
    assert state.locked and state.parameters == ["ip_address"]
    assert lockout.check("owner").failures == 0
    assert lockout.check("victim1").failures == 1


def test_unlock_and_listing(make_store: StoreFactory) -> None:
    clock = ManualClock(NOW)
    lockout = Lockout(
        make_store(clock), failure_limit=1, parameters=["username", "ip_address", ["username", "user_agent"]]
    )
    lockout.record_failure("rob", "10.0.0.1", "ua-1")
    clock.advance(10)
    lockout.record_failure("sue", "10.0.0.2", "ua-2")
    listed = lockout.locked()
    # Soonest to end first; locks ending together in member order.
    assert [(e["parameters"], e.get("username"), e.get("ip_address")) for e in listed[:3]] == [
        (["ip_address"], None, "10.0.0.1"),
        (["username", "user_agent"], "rob", None),
        (["username"], "rob", None),
    ]
    assert listed[1]["user_agent"] == "ua-1"
    assert listed[0]["retry_after"] == 3590 and listed[0]["locked_until"] == NOW + 3600
    assert len(lockout.locked(limit=2)) == 2
    assert lockout.unlock("rob") == 2
    assert lockout.unlock(ip_address="10.0.0.1") == 1
    assert lockout.unlock("sue", "10.0.0.2") == 3
    assert lockout.locked() == []
    with pytest.raises(InvalidArgumentError):
        lockout.unlock()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_events(make_store: StoreFactory) -> None:
    clock = ManualClock(NOW)
    events: list[dict[str, str]] = []
    lockout = Lockout(make_store(clock), failure_limit=1, parameters=["username"], on_event=events.append)
    lockout.record_failure("Uma", "10.0.0.5")
    lockout.unlock("uma")
    assert events == [
        {
            "event": "locked_out",
            "category": "[LOCKOUT]",
            "lockout": "login",
            "parameters": "username",
            "username": "uma",
            "ip_address": "10.0.0.5",
            "retry_after": "3600",
        },
        {"event": "unlocked", "category": "[LOCKOUT]", "lockout": "login", "username": "uma", "removed": "1"},
    ]

    def broken(_: dict[str, str]) -> None:
        raise RuntimeError("listener bug")

    # A failing listener is reported as unraisable and changes nothing.
    quiet = Lockout(make_store(clock), name="quiet", failure_limit=1, on_event=broken)
    assert quiet.record_failure("x").locked


def test_login_is_uniform(make_store: StoreFactory) -> None:
    clock = ManualClock(NOW)
    lockout = Lockout(make_store(clock), failure_limit=3)
    stored = FAST.hash("correct horse")
    assert lockout.login("xena", "correct horse", stored, ip_address="10.0.0.1", hasher=FAST)
    assert not lockout.login("xena", "wrong", stored, ip_address="10.0.0.1", hasher=FAST)
    assert not lockout.login("ghost", b"anything", None, ip_address="10.0.0.2", hasher=FAST)
    assert lockout.check("ghost").failures == 1
    lockout.login("ghost", "x", None, hasher=FAST)
    with pytest.raises(AccountLockedError) as ghost:
        lockout.login("ghost", "x", None, hasher=FAST)
    lockout.login("xena", "x", stored, hasher=FAST)
    with pytest.raises(AccountLockedError) as real:
        lockout.login("xena", "x", stored, hasher=FAST)
    assert str(ghost.value) == str(real.value)
    assert ghost.value.retry_after == real.value.retry_after == 3600
    # Django's encodings verify too.
    django = hash_password("s3cret", algorithm="pbkdf2_sha256", iterations=1000)
    assert lockout.login("yan", "s3cret", django, hasher="pbkdf2_sha256")
    assert not lockout.login("yan2", "s3cret", None, hasher=bastion.PasswordHasher(memory_cost=1024))
    with pytest.raises(TypeError):
        lockout.login("yan", "s3cret", django, hasher=42)


def test_async_twins(make_store: StoreFactory) -> None:
    clock = ManualClock(NOW)
    lockout = Lockout(make_store(clock), failure_limit=2)

    async def main() -> tuple[Any, ...]:
        first = await lockout.arecord_failure("wes", "10.0.0.3")
        states = await asyncio.gather(*(lockout.arecord_failure("zed", "10.0.0.4") for _ in range(8)))
        checked = await lockout.acheck("wes")
        listed = await lockout.alocked()
        removed = await lockout.aunlock("zed", "10.0.0.4")
        await lockout.arecord_success("wes")
        after = await lockout.acheck("wes")
        ok = await lockout.alogin("amy", "pw", FAST.hash("pw"), hasher=FAST)
        bad = await lockout.alogin("amy", "nope", None, hasher=FAST)
        return (
            first.failures,
            sorted(s.failures for s in states),
            checked.failures,
            len(listed),
            removed,
            after.failures,
            ok,
            bad,
        )

    assert asyncio.run(main()) == (1, list(range(1, 9)), 1, 2, 2, 0, True, False)


def test_threads_count_every_failure_once(make_store: StoreFactory) -> None:
    clock = ManualClock(NOW)
    lockout = Lockout(make_store(clock), failure_limit=10, parameters=["username"])
    barrier = threading.Barrier(16)
    results: list[LockoutState] = []

    def worker() -> None:
        barrier.wait()
        results.append(lockout.record_failure("vic"))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(s.failures for s in results) == list(range(1, 17))
    assert sum(not s.locked for s in results) == 9


def test_options_are_checked() -> None:
    for bad in (
        {"failure_limit": 0},
        {"cooloff": 0},
        {"name": "no spaces"},
        {"outage_policy": "maybe"},
        {"progressive": {"factor": 0.5}},
        {"progressive": {"speed": 2}},
        {"cooloff": "30"},
    ):
        with pytest.raises(InvalidArgumentError):
            Lockout(**bad)
    with pytest.raises(TypeError):
        Lockout(cooloff=[1])
    assert Lockout(cooloff="1h", progressive=True).cooloff == 3600


def test_outage_policies_with_redis_stopped(fresh_redis_server: redis_harness.RedisServer) -> None:
    clock = ManualClock(NOW)
    server = fresh_redis_server

    def make(policy: str) -> Lockout:
        store = Store(server.url, prefix=redis_harness.unique_prefix("lockout-outage"), clock=clock)
        return Lockout(store, failure_limit=2, outage_policy=policy, clock=clock)

    closed, opened, local = make("fail_closed"), make("fail_open"), make("local")
    for lockout in (closed, opened, local):
        lockout.record_failure("bea")
    server.stop()
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError):
        closed.check("bea")
    assert not opened.record_failure("bea").locked
    assert local.record_failure("bea").failures == 1
    assert local.record_failure("bea").locked
    assert time.monotonic() - started < 2.0
    with pytest.raises(StoreUnavailableError):
        local.locked()


def test_cooloff_settings_are_checked() -> None:
    assert Lockout(cooloff="30m").cooloff == 1800
    assert Lockout(cooloff=timedelta(minutes=5)).cooloff == 300
    assert Lockout(cooloff=90).cooloff == 90
    # A bare number in text would be read as milliseconds: refused, not guessed.
    with pytest.raises(InvalidArgumentError, match="needs a unit"):
        Lockout(cooloff="1800")
    for bad in [-1, float("nan"), float("inf"), 1e11, "5 fortnights"]:
        with pytest.raises(InvalidArgumentError):
            Lockout(cooloff=bad)
    with pytest.raises(TypeError):
        Lockout(cooloff=[30])  # type: ignore[arg-type]
