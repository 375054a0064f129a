"""Circuit breaker: stop calling a dependency that keeps failing, probe it after a while, close
again when it has recovered.

The state machine lives in the native core (``bastion._native.CircuitBreaker``): trip policies
(failures in a row, or a failure / slow-call rate over a window of calls or of time), open time
with optional backoff, a bounded number of half-open probes that cannot stick, generations that
ignore late outcomes. This module adds the Python ways to use it:

- ``breaker.call(fn, *args, **kwargs)`` and ``await breaker.acall(fn, *args, **kwargs)``;
- ``@breaker`` on a function or a coroutine function;
- ``with breaker.calling():`` and ``async with breaker.calling():``;
- the two-step ``permit = breaker.acquire()`` ... ``permit.success()`` / ``permit.failure()``,
  and ``breaker.try_acquire()``, which returns None instead of raising.

A rejected call raises :class:`~bastion.exceptions.CircuitOpenError` with ``retry_after``.
Nothing is held while the protected call runs, so calls through a closed breaker run in parallel.
Which exceptions count: every exception is a failure, except those matching ``exclude`` (types or
predicates: they count as successes, as in pybreaker: the dependency answered), and, when
``include`` is given, those not matching it. ``result_is_failure`` marks results as failures (an
HTTP 503 returned, not raised). A cancelled call (``asyncio.CancelledError``, ``KeyboardInterrupt``)
counts as nothing. With ``call_timeout``, ``acall`` cancels the call at the timeout (a failure),
and a sync call that returns later than the timeout counts as a failure.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

from bastion import _native
from bastion._native import BreakerPermit, ManualClock, Store
from bastion.exceptions import CircuitOpenError

__all__ = ["BreakerPermit", "CircuitBreaker", "CircuitOpenError"]

P = ParamSpec("P")
R = TypeVar("R")

#: An exception type, or a predicate over the exception.
ErrorRule = type[BaseException] | Callable[[BaseException], bool]
Span = float | int | str | timedelta


def _split(rules: Iterable[ErrorRule]) -> tuple[tuple[type[BaseException], ...], tuple[Any, ...]]:
    types: list[type[BaseException]] = []
    predicates: list[Callable[[BaseException], bool]] = []
    for rule in rules:
        if isinstance(rule, type) and issubclass(rule, BaseException):
            types.append(rule)
        elif callable(rule):
            predicates.append(rule)
        else:
            raise TypeError(
                f"an error rule must be an exception type or a predicate, not {type(rule).__name__}"
            )
    return tuple(types), tuple(predicates)


def _matches(exc: BaseException, types: tuple[type[BaseException], ...], predicates: tuple[Any, ...]) -> bool:
    return isinstance(exc, types) or any(p(exc) for p in predicates)


def _classifier(
    exclude: Iterable[ErrorRule], include: Iterable[ErrorRule] | None
) -> Callable[[BaseException], bool] | None:
    """``exc -> counts as a failure``, or None when every exception does."""
    excluded = _split(exclude)
    included = None if include is None else _split(include)
    if not excluded[0] and not excluded[1] and included is None:
        return None

    def is_failure(exc: BaseException) -> bool:
        if _matches(exc, *excluded):
            return False
        return included is None or _matches(exc, *included)

    return is_failure


class CircuitBreaker:
    """A circuit breaker (see the module documentation).

    ``fail_max`` failures in a row open it (pybreaker's rule) unless ``failure_rate`` (or
    ``slow_call_rate``) is given: then it opens when that rate is reached over the last
    ``window_calls`` calls (default 100) or over ``window_time``, once the window holds
    ``minimum_calls`` calls. It stays open ``reset_timeout`` (seconds, a ``timedelta`` or text
    such as ``"1m"``; with ``max_reset_timeout`` the time grows by ``backoff_multiplier`` with
    each trip in a row, capped), then lets ``half_open_max_calls`` probes through;
    ``success_threshold`` probe successes close it, a probe failure opens it again. A probe never
    reported is released after ``probe_timeout`` (default: ``call_timeout``, else
    ``reset_timeout``). ``on_event`` receives each transition (``circuit_open``,
    ``circuit_half_open``, ``circuit_closed``, category ``[CIRCUIT]``).

    With ``store`` a Redis :class:`bastion.Store`, every process (Python or Node) that makes a
    breaker of the same ``name`` on that Redis shares one state: one process's trip opens it for
    all (each learns by broadcast within about a round trip, and re-reads the state every
    ``sync_interval`` anyway), half-open probes are bounded across all of them, and a success in
    the closed state costs no round trip (successes are counted locally and flushed within
    ``flush_interval``). While Redis is unreachable each process carries on alone
    (``store_unavailable`` event, ``stats()["mode"] == "fallback"``) and follows Redis again once
    it answers. The time is the store's (give a test ``ManualClock`` to the ``Store``).
    """

    #: Calls ``fn(*args, **kwargs)`` through the breaker (natively: acquire, call, classify,
    #: report); raises ``CircuitOpenError`` without calling ``fn`` when rejected.
    call: Callable[..., Any]

    __slots__ = (
        "_call_timeout",
        "_classify",
        "_core",
        "_shared",
        "call",
    )

    def __init__(
        self,
        name: str = "default",
        *,
        fail_max: int = 5,
        reset_timeout: Span = 60,
        success_threshold: int = 1,
        failure_rate: float | None = None,
        window_calls: int | None = None,
        window_time: Span | None = None,
        minimum_calls: int = 10,
        slow_call_rate: float | None = None,
        slow_call_duration: Span | None = None,
        max_reset_timeout: Span | None = None,
        backoff_multiplier: float = 2.0,
        half_open_max_calls: int = 1,
        probe_timeout: Span | None = None,
        call_timeout: Span | None = None,
        exclude: Iterable[ErrorRule] = (),
        include: Iterable[ErrorRule] | None = None,
        result_is_failure: Callable[[Any], bool] | None = None,
        clock: ManualClock | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        store: Store | None = None,
        sync_interval: Span = 1,
        flush_interval: Span = 0.1,
    ) -> None:
        self._classify = _classifier(tuple(exclude), None if include is None else tuple(include))
        self._core = _native.CircuitBreaker(
            name,
            fail_max=fail_max,
            reset_timeout=reset_timeout,
            success_threshold=success_threshold,
            failure_rate=failure_rate,
            window_calls=window_calls,
            window_time=window_time,
            minimum_calls=minimum_calls,
            slow_call_rate=slow_call_rate,
            slow_call_duration=slow_call_duration,
            max_reset_timeout=max_reset_timeout,
            backoff_multiplier=backoff_multiplier,
            half_open_max_calls=half_open_max_calls,
            probe_timeout=probe_timeout,
            call_timeout=call_timeout,
            clock=clock,
            on_event=on_event,
            is_failure=self._classify,
            result_is_failure=result_is_failure,
            store=store,
            sync_interval=sync_interval,
            flush_interval=flush_interval,
        )
        # As the core read it (seconds, a timedelta or text): acall's timeout.
        self._call_timeout = self._core.call_timeout
        # The sync call path runs natively: acquire, call, classify, report.
        self.call = self._core.call
        self._shared = self._core.shared

    # ---- the two-step API -------------------------------------------------------------------

    def acquire(self) -> BreakerPermit:
        """A permit for one call; raises ``CircuitOpenError`` when rejected."""
        return self._core.acquire()

    def try_acquire(self) -> BreakerPermit | None:
        """A permit for one call, or None when rejected (no exception built)."""
        return self._core.try_acquire()

    def is_failure(self, exc: BaseException) -> bool:
        """Whether ``exc`` counts as a failure of the protected call."""
        return self._classify is None or self._classify(exc)

    # ---- calls ---------------------------------------------------------------------------

    async def acall(self, fn: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Awaits ``fn(*args, **kwargs)`` through the breaker (cancelled at ``call_timeout``)."""
        core = self._core
        # Shared through Redis, the round trips (the half-open edge, a failure, a probe's outcome)
        # are awaited, never made on the event loop's thread.
        shared = self._shared
        permit = await core.acquire_async() if shared else core.acquire()
        try:
            if self._call_timeout is None:
                result = await fn(*args, **kwargs)
            else:
                result = await asyncio.wait_for(fn(*args, **kwargs), self._call_timeout)
        except BaseException as exc:
            if shared:
                await core.areport_error(permit, exc)
            else:
                core.report_error(permit, exc)
            raise
        if shared:
            await core.areport_result(permit, result)
        else:
            core.report_result(permit, result)
        return result

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Decorates a function or a coroutine function: every call goes through the breaker."""
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def guarded_async(*args: Any, **kwargs: Any) -> Any:
                return await self.acall(fn, *args, **kwargs)

            return guarded_async  # type: ignore[return-value]

        call = self._core.call

        @functools.wraps(fn)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            return call(fn, *args, **kwargs)  # type: ignore[no-any-return]

        return guarded

    def calling(self) -> Calling:
        """A context manager (``with`` or ``async with``) guarding the block as one call."""
        return Calling(self)

    # ---- state ---------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._core.name

    @property
    def state(self) -> str:
        """``"closed"``, ``"open"`` or ``"half-open"``."""
        return self._core.state

    def stats(self) -> dict[str, Any]:
        """A snapshot for health checks and metrics (see ``bastion._native.CircuitBreaker``)."""
        return self._core.stats()

    def sync(self) -> None:
        """Shared through Redis: reads the shared state now (one round trip) and follows it.

        Raises ``StoreUnavailableError`` when Redis does not answer in time; does nothing for a
        breaker that is not shared.
        """
        self._core.sync()

    def open(self) -> None:
        """Opens the breaker now, for its open time."""
        self._core.open()

    def close(self) -> None:
        """Closes the breaker now, clearing its counts."""
        self._core.close()

    def half_open(self) -> None:
        """Moves the breaker to half-open now: the next call is a probe."""
        self._core.half_open()

    def __repr__(self) -> str:
        return f"CircuitBreaker(name={self.name!r}, state={self.state!r})"


class Calling:
    """One call guarded by a breaker, as a context manager (sync or async)."""

    __slots__ = ("_breaker", "_permit")

    def __init__(self, breaker: CircuitBreaker) -> None:
        self._breaker = breaker
        self._permit: BreakerPermit | None = None

    def __enter__(self) -> Calling:
        self._permit = self._breaker.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        permit, self._permit = self._permit, None
        if permit is None:
            return
        if exc is None:
            permit.success()
        else:
            self._breaker._core.report_error(permit, exc)

    async def __aenter__(self) -> Calling:
        if not self._breaker._shared:
            return self.__enter__()
        self._permit = await self._breaker._core.acquire_async()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._breaker._shared:
            self.__exit__(exc_type, exc, tb)
            return
        permit, self._permit = self._permit, None
        if permit is None:
            return
        core = self._breaker._core
        if exc is None:
            await permit.asuccess()
        else:
            await core.areport_error(permit, exc)
