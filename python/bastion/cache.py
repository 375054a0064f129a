"""A cache whose values are computed once across threads, coroutines, processes and machines.

``Cache(store).get(key, fn)`` answers ``key`` from the store when it can; otherwise one caller in
all the processes sharing the store computes ``fn()`` while the others wait for its value (woken by
a broadcast, not by polling). ``await Cache.aget(key, afn)`` does the same for coroutine
functions. Values travel as JSON by default (``serializer="json"``); ``serializer="pickle"`` (or any
object with ``dumps``/``loads``) must be asked for explicitly: **unpickling runs code, so use it only
when everything that can write to the store is trusted.**

The rules live in the native core (see ``docs/singleflight.md``): callers of one process coalesce
first; the local leader takes the key's lease (with a fencing token), looks up again, computes, and
writes only while its fence is current; a failing leader releases the lease so another takes over;
a killed one's lease expires; the freshness options (``ttl``, ``stale_while_revalidate``,
``stale_if_error``, ``negative_ttl``, ``xfetch_beta``) apply to the stored value; with Redis down
the cache carries on in-process and emits ``store_unavailable``.

On Redis, a value read from the store is kept in this process for ``local_ttl`` (1 second by
default, never past its own freshness; ``0`` turns it off) and answered without a round trip. A new
value or an invalidation in any process drops those copies everywhere as its broadcast arrives.

``fn()`` returning ``None`` means "nothing found": kept for ``negative_ttl`` when set, else not
kept.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import pickle
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from bastion import _native

__all__ = ["Cache", "Serializer"]

# The computing caller gave up rather than failed: hand the computation to a waiter.
_ABANDON = (asyncio.CancelledError, KeyboardInterrupt, SystemExit, GeneratorExit)


class Serializer(Protocol):
    """Turns values into bytes and back."""

    def dumps(self, value: Any) -> bytes: ...

    def loads(self, data: bytes) -> Any: ...


class _Json:
    @staticmethod
    def dumps(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()

    @staticmethod
    def loads(data: bytes) -> Any:
        return json.loads(data)


class _Pickle:
    @staticmethod
    def dumps(value: Any) -> bytes:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def loads(data: bytes) -> Any:
        return pickle.loads(data)  # noqa: S301 - opt-in only, see the module documentation


def _serializer(s: str | Serializer) -> Serializer:
    if s == "json":
        return _Json()
    if s == "pickle":
        return _Pickle()
    if isinstance(s, str) or not (hasattr(s, "dumps") and hasattr(s, "loads")):
        raise TypeError('serializer must be "json", "pickle" or an object with dumps and loads')
    return s


class Cache:
    """A cache shared through a :class:`bastion.Store` (this process's memory by default, or Redis /
    Redis Cluster). See the module documentation."""

    __slots__ = ("_dumps", "_loads", "_native")

    def __init__(
        self,
        store: _native.Store | None = None,
        *,
        namespace: str = "cache",
        ttl: float | str = 60,
        stale_while_revalidate: float | str = 0,
        stale_if_error: float | str = 0,
        negative_ttl: float | str | None = None,
        xfetch_beta: float = 1.0,
        max_entries: int = 10_000,
        lease_ttl: float | str = 30,
        wait_timeout: float | str = 15,
        max_value_bytes: int = 1 << 20,
        local_ttl: float | str = 1,
        serializer: str | Serializer = "json",
        seed: int | None = None,
        on_event: Callable[[dict[str, str]], object] | None = None,
    ) -> None:
        s = _serializer(serializer)
        self._dumps, self._loads = s.dumps, s.loads
        self._native = _native.SharedCache(
            store,
            namespace=namespace,
            ttl=ttl,
            stale_while_revalidate=stale_while_revalidate,
            stale_if_error=stale_if_error,
            negative_ttl=negative_ttl,
            xfetch_beta=xfetch_beta,
            max_entries=max_entries,
            lease_ttl=lease_ttl,
            wait_timeout=wait_timeout,
            max_value_bytes=max_value_bytes,
            local_ttl=local_ttl,
            seed=seed,
            on_event=on_event,
        )

    def _load(self, answer: tuple[bytes | None, str]) -> Any:
        return None if answer[0] is None else self._loads(answer[0])

    def _dump(self, value: Any) -> bytes | None:
        return None if value is None else self._dumps(value)

    def get(self, key: str, fn: Callable[[], Any]) -> Any:
        """The value of ``key``: from the store, or ``fn()`` computed once for every caller of
        every process (waiters block with the GIL released)."""
        kind, payload = self._native.begin(key)
        if kind == "value":
            return self._load(payload)
        fill = payload
        try:
            value = fn()
        except _ABANDON:
            fill.abandon()
            raise
        except BaseException as exc:
            stale = fill.fail(exc)
            if stale is None:
                raise
            return self._load(stale)
        fill.finish(self._dump(value))
        return value

    async def aget(self, key: str, fn: Callable[[], Awaitable[Any] | Any]) -> Any:
        """Awaitable :meth:`get`: ``fn`` is a coroutine function (or a callable whose result is
        awaited when awaitable). The event loop never blocks on the store."""
        step = self._native.abegin(key)
        kind, payload = step if isinstance(step, tuple) else await step
        if kind == "value":
            return self._load(payload)
        fill = payload
        try:
            value = fn()
            if inspect.isawaitable(value):
                value = await value
        except _ABANDON:
            fill.abandon()
            raise
        except BaseException as exc:
            stale = await fill.afail(exc)
            if stale is None:
                raise
            return self._load(stale)
        await fill.afinish(self._dump(value))
        return value

    def invalidate(self, key: str) -> None:
        """Removes ``key``'s value: the next caller computes it."""
        self._native.invalidate(key)

    def ready(self, timeout: float = 5.0) -> bool:
        """Waits until this process receives the store's broadcasts (Redis); True at once for
        memory."""
        return self._native.ready(timeout)

    def waiting(self, key: str) -> int:
        """How many callers of this process wait for ``key``'s computation now."""
        return self._native.waiting(key)

    def stats(self) -> dict[str, int]:
        """Counts since the cache was made: hits (local_hits of them answered by the local
        tier), misses, computations, early_refreshes, stale_served, fills_refused,
        local_fallbacks."""
        return self._native.stats()

    def local_entries(self) -> int:
        """How many values the local tier holds now (Redis stores only)."""
        return self._native.local_entries()

    def __repr__(self) -> str:
        return f"Cache({self._native!r})"
