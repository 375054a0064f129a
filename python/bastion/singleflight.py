"""Single-flight: concurrent callers of one key share one computation.

``SingleFlight.do(key, fn)`` runs ``fn()`` in the first caller of ``key`` (the leader); every caller
that arrives while it runs waits and gets the same result, without running ``fn`` itself.
``await SingleFlight.ado(key, afn)`` does the same for coroutine functions, and threads and
coroutines can share one table. Each returns ``(value, shared)``: ``shared`` says whether the value
went to more than one caller.

The rules live in the native core:

- one computation per flight; the table keeps nothing once a flight ends, so the next caller after
  it computes again (keeping values is a cache's business);
- an exception raised by the leader is raised in the callers waiting at that moment, and not kept;
- a leader that goes away (its task cancelled, ``KeyboardInterrupt``) hands the lead to one of the
  waiting callers, which computes instead; the others keep waiting for it;
- ``forget(key)`` lets the next caller start a new flight while the current one finishes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bastion import _native

__all__ = ["SingleFlight"]

T = TypeVar("T")

# The leader gave up rather than failed: hand the lead to a waiter.
_ABANDON = (asyncio.CancelledError, KeyboardInterrupt, SystemExit, GeneratorExit)


def _shared(kind: str, payload: Any) -> tuple[Any, bool]:
    """A follower's outcome: the leader's value (shared), or its exception raised here."""
    if kind == "error":
        raise payload
    return payload, True


class SingleFlight:
    """A table of flights, one per key (see the module documentation). Share one table between
    the threads and coroutines that should coalesce."""

    __slots__ = ("_core",)

    def __init__(self) -> None:
        self._core = _native.SingleFlight()

    def do(self, key: str, fn: Callable[[], T]) -> tuple[T, bool]:
        """Runs ``fn()`` once for all concurrent callers of ``key`` (waiters block with the GIL
        released); returns ``(value, shared)`` or raises the leader's exception."""
        flight = self._core.begin(key)
        while not flight.is_leader:
            kind, payload = flight.wait()
            if kind != "lead":
                return _shared(kind, payload)
            flight = payload
        try:
            value = fn()
        except _ABANDON:
            flight.abandon()
            raise
        except BaseException as exc:
            flight.fail(exc)
            raise
        return value, flight.complete(value) > 0

    async def ado(self, key: str, fn: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """Awaits ``fn()`` once for all concurrent callers of ``key``; returns ``(value, shared)``
        or raises the leader's exception. A waiter cancelled leaves the flight; a leader
        cancelled hands the lead to a waiter."""
        flight = self._core.begin(key)
        while not flight.is_leader:
            kind, payload = await flight.wait_async()
            if kind != "lead":
                return _shared(kind, payload)
            flight = payload
        try:
            value = await fn()
        except _ABANDON:
            flight.abandon()
            raise
        except BaseException as exc:
            flight.fail(exc)
            raise
        return value, flight.complete(value) > 0

    def forget(self, key: str) -> None:
        """Removes ``key``'s flight: its waiters still get its outcome, the next caller starts a
        new one."""
        self._core.forget(key)

    def waiting(self, key: str) -> int:
        """How many callers are waiting for ``key``'s flight now."""
        return self._core.waiting(key)

    @property
    def in_flight(self) -> int:
        """How many flights are running."""
        return self._core.in_flight

    def __repr__(self) -> str:
        return f"SingleFlight(in_flight={self.in_flight})"
