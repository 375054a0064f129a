"""SingleFlight from Python: one computation for concurrent threads and coroutines, the leader's
exception raised in the waiters and not kept, a cancelled leader replaced by a waiter, forget."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest
from bastion import InvalidArgumentError, SingleFlight


class Upstream(Exception):
    """The computation failed."""


def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Waits (polling) until ``condition()`` holds: here, until callers have joined a flight."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the callers did not join in time"
        time.sleep(0.001)


def test_fifty_threads_one_computation() -> None:
    flights = SingleFlight()
    release = threading.Event()
    calls: list[int] = []
    results: list[tuple[str, bool]] = []

    def compute() -> str:
        calls.append(1)
        release.wait(10)
        return "profile 42"

    def caller() -> None:
        results.append(flights.do("user:42", compute))

    threads = [threading.Thread(target=caller) for _ in range(50)]
    for t in threads:
        t.start()
    until(lambda: flights.waiting("user:42") == 49)
    release.set()
    for t in threads:
        t.join(10)
    assert len(calls) == 1
    assert sorted(results) == [("profile 42", True)] * 50
    assert flights.in_flight == 0
    # The table keeps nothing: the next caller computes again.
    assert flights.do("user:42", lambda: "again") == ("again", False)


def test_an_exception_goes_to_the_waiters_and_is_not_kept() -> None:
    flights = SingleFlight()
    release = threading.Event()
    raised: list[BaseException] = []

    def compute() -> str:
        release.wait(10)
        raise Upstream("down")

    def caller() -> None:
        try:
            flights.do("k", compute)
        except Upstream as e:
            raised.append(e)

    threads = [threading.Thread(target=caller) for _ in range(5)]
    for t in threads:
        t.start()
    until(lambda: flights.waiting("k") == 4)
    release.set()
    for t in threads:
        t.join(10)
    assert len(raised) == 5
    assert all(str(e) == "down" for e in raised)
    assert flights.do("k", lambda: "recovered") == ("recovered", False)


def test_a_thousand_coroutines_one_computation() -> None:
    flights = SingleFlight()
    calls: list[int] = []

    async def compute() -> int:
        calls.append(1)
        await asyncio.sleep(0)  # let the others join
        while flights.waiting("k") < 999:
            await asyncio.sleep(0)
        return 7

    async def main() -> list[tuple[int, bool]]:
        return await asyncio.gather(*(flights.ado("k", compute) for _ in range(1000)))

    results = asyncio.run(asyncio.wait_for(main(), 30))
    assert len(calls) == 1
    assert results == [(7, True)] * 1000


def test_a_cancelled_leader_is_replaced_by_a_waiter() -> None:
    flights = SingleFlight()
    calls: list[str] = []

    async def main() -> list[object]:
        first_started = asyncio.Event()

        async def compute_first() -> str:
            calls.append("first")
            first_started.set()
            await asyncio.Event().wait()  # never finishes: cancelled below
            return "never"

        async def compute_other() -> str:
            calls.append("other")
            return "value"

        leader = asyncio.create_task(flights.ado("k", compute_first))
        await first_started.wait()
        waiters = [asyncio.create_task(flights.ado("k", compute_other)) for _ in range(5)]
        while flights.waiting("k") < 5:
            await asyncio.sleep(0)
        leader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await leader
        return list(await asyncio.gather(*waiters))

    results = asyncio.run(asyncio.wait_for(main(), 30))
    assert calls == ["first", "other"], "one waiter took over, once"
    # The new leader's value went to the four others too: shared for all five.
    assert results == [("value", True)] * 5


def test_threads_and_coroutines_share_one_flight() -> None:
    flights = SingleFlight()
    release = threading.Event()

    def compute() -> str:
        release.wait(10)
        return "shared"

    out: list[tuple[str, bool]] = []
    leader = threading.Thread(target=lambda: out.append(flights.do("k", compute)))
    leader.start()
    until(lambda: flights.in_flight == 1)

    async def follow() -> tuple[str, bool]:
        async def never() -> str:
            raise AssertionError("a follower computed")

        task = asyncio.create_task(flights.ado("k", never))
        while flights.waiting("k") < 1:
            await asyncio.sleep(0)
        release.set()
        return await task

    assert asyncio.run(asyncio.wait_for(follow(), 30)) == ("shared", True)
    leader.join(10)
    assert out == [("shared", True)]


def test_forget_starts_a_new_flight() -> None:
    flights = SingleFlight()
    release = threading.Event()
    out: list[tuple[str, bool]] = []

    def slow() -> str:
        release.wait(10)
        return "old"

    t = threading.Thread(target=lambda: out.append(flights.do("k", slow)))
    t.start()
    until(lambda: flights.in_flight == 1)
    flights.forget("k")
    assert flights.do("k", lambda: "new") == ("new", False)
    release.set()
    t.join(10)
    assert out == [("old", False)]


def test_a_flight_part_is_used_once() -> None:
    from bastion import _native

    core = _native.SingleFlight()
    leader = core.begin("k")
    follower = core.begin("k")
    assert leader.is_leader and not follower.is_leader
    with pytest.raises(InvalidArgumentError):
        follower.complete(1)
    assert leader.complete(1) == 1
    with pytest.raises(InvalidArgumentError):
        leader.complete(2)
    assert follower.wait() == ("value", 1)
    with pytest.raises(InvalidArgumentError):
        follower.wait()
    assert repr(leader) == "Flight(finished)"
