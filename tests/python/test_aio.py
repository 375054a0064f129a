"""How the extension's awaitables complete: each with its own result, on the loop that awaited it,
cancellation kept, several loops (in turn and at once), a loop that cannot watch a socket, and a
loop otherwise idle while a slow store call is pending."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from bastion import (
    Lockout,
    ManualClock,
    RateLimiter,
    RateLimitExceeded,
    Store,
    StoreUnavailableError,
)
from conftest import NOW

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run with a bound: an outcome that never arrives fails the test instead of hanging it."""
    return asyncio.run(asyncio.wait_for(coro, timeout=30))


def test_thousands_in_flight_each_complete_with_their_own_result() -> None:
    lockout = Lockout(failure_limit=3, parameters=["username"])
    users = [f"user{i % 1000}" for i in range(5000)]

    async def main() -> list[Any]:
        return await asyncio.gather(*(lockout.arecord_failure(username=u) for u in users))

    states = run(main())
    seen: dict[str, list[int]] = {}
    for user, state in zip(users, states, strict=True):
        seen.setdefault(user, []).append(state.failures)
        assert state.locked == (state.failures >= 3)
    assert len(seen) == 1000
    # Five failures per user: each call saw its own count.
    assert all(sorted(f) == [1, 2, 3, 4, 5] for f in seen.values())


def test_an_error_is_the_typed_exception_and_later_calls_still_complete() -> None:
    rl = RateLimiter("1/minute", store=Store(clock=ManualClock(NOW)))

    async def main() -> tuple[float, bool]:
        await rl.ahit("k")
        with pytest.raises(RateLimitExceeded) as caught:
            await rl.ahit("k")
        return caught.value.retry_after, (await rl.acheck("other")).allowed

    retry_after, allowed = run(main())
    assert retry_after > 0
    assert allowed is True


def test_a_cancelled_awaitable_stays_cancelled_and_the_others_complete() -> None:
    rl = RateLimiter("100/minute", store=Store(clock=ManualClock(NOW)))

    async def main() -> tuple[list[bool], bool]:
        futures = [rl.acheck(f"k{i}") for i in range(200)]
        cancelled = futures[::2]
        for f in cancelled:
            f.cancel()
        kept = [(await f).allowed for f in futures[1::2]]
        await asyncio.sleep(0)  # the cancelled ones' outcomes arrive and are dropped
        return kept, all(f.cancelled() for f in cancelled)

    kept, still_cancelled = run(main())
    assert kept == [True] * 100
    assert still_cancelled


def test_loops_in_turn_and_at_once_each_get_their_own_results() -> None:
    rl = RateLimiter("1000/minute", store=Store(clock=ManualClock(NOW)))

    async def count(prefix: str) -> int:
        ds = await asyncio.gather(*(rl.acheck(f"{prefix}{i % 10}") for i in range(300)))
        return sum(d.allowed for d in ds)

    # One loop after another on this thread.
    for round_ in range(3):
        assert run(count(f"turn{round_}-")) == 300
    # Four loops at once on four threads.
    results: dict[int, int] = {}

    def in_thread(n: int) -> None:
        results[n] = run(count(f"thread{n}-"))

    threads = [threading.Thread(target=in_thread, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == {0: 300, 1: 300, 2: 300, 3: 300}


class _NoReaderLoop(asyncio.SelectorEventLoop):
    """A loop that cannot watch a socket (as Windows' proactor loop)."""

    def add_reader(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError


def test_a_loop_that_cannot_watch_a_socket_still_gets_results() -> None:
    rl = RateLimiter("5/minute", store=Store(clock=ManualClock(NOW)))

    async def main() -> list[bool]:
        ds = await asyncio.gather(*(rl.acheck("k") for _ in range(8)))
        return [d.allowed for d in ds]

    loop = _NoReaderLoop()
    try:
        assert sorted(loop.run_until_complete(asyncio.wait_for(main(), 30))) == [False] * 3 + [True] * 5
    finally:
        loop.close()


def test_a_pending_call_completes_on_an_otherwise_idle_loop() -> None:
    # A "Redis server" that accepts and never answers: the ping is pending for the store's timeout
    # with nothing else for the loop to do, and the loop wakes for its outcome.
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        store = Store(f"redis://127.0.0.1:{port}", timeout=0.3)

        async def main() -> str:
            try:
                await store.aping()
            except StoreUnavailableError as e:
                return type(e).__name__
            return "answered"

        assert run(main()) == "StoreUnavailableError"
