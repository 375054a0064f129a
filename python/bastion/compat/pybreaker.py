"""pybreaker 1.x on bastion's circuit breaker: change ``import pybreaker`` to
``from bastion.compat import pybreaker`` and the code runs unchanged.

What is pybreaker's: the constructor (``fail_max``, ``reset_timeout``, ``success_threshold``,
``exclude``, ``listeners``, ``name``, ``throw_new_error_on_trip``), ``call``, ``calling()``, use as
a decorator, ``current_state`` (``'closed'``, ``'open'``, ``'half-open'``), ``state.name``,
``fail_counter``, ``success_counter``, ``open()``, ``close()``, ``half_open()``, listeners
(``before_call``, ``success``, ``failure``, ``state_change``), excluded exceptions (types or
predicates; an excluded error counts as a success, as in pybreaker), and ``CircuitBreakerError``
raised when the breaker is open and, by default, by the call that trips it.

What is better: calls are not serialised (pybreaker holds a lock around every protected call),
at most one probe runs in half-open, a probe's outcome that arrives after another state change is
ignored, coroutine functions can be decorated, and ``CircuitBreakerError`` carries
``retry_after``.

``state_storage``: ``CircuitMemoryStorage(state)`` keeps the state in the process (the default);
``CircuitRedisStorage(state, redis_object, namespace=None)`` shares it through Redis with every
process (Python or Node) whose breaker has the same name (``namespace``, else ``name``) on the
same Redis, bastion's way: transitions are atomic scripts, a closed breaker's calls cost no round
trip, probes are bounded across processes, and while Redis is unreachable each process carries on
alone. ``redis_object`` is a redis-py client (``Redis`` or ``RedisCluster``: only its address and
credentials are read), a ``bastion.Store`` or a Redis URL.

Setting ``fail_max`` or ``reset_timeout`` on a breaker rebuilds it closed with the new value.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from bastion import _native
from bastion.breaker import ErrorRule, _matches, _split
from bastion.exceptions import CircuitOpenError, InvalidArgumentError

__all__ = [
    "STATE_CLOSED",
    "STATE_HALF_OPEN",
    "STATE_OPEN",
    "CircuitBreaker",
    "CircuitBreakerError",
    "CircuitBreakerListener",
    "CircuitBreakerState",
    "CircuitMemoryStorage",
    "CircuitRedisStorage",
]

STATE_OPEN = "open"
STATE_CLOSED = "closed"
STATE_HALF_OPEN = "half-open"


class CircuitBreakerError(CircuitOpenError):
    """The breaker is open (the call was not made), or this call's failure opened it."""


class CircuitBreakerListener:
    """Listener for breaker events; override what you need."""

    def before_call(self, cb: CircuitBreaker, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Called before the protected function (only when the call is let through)."""

    def state_change(
        self, cb: CircuitBreaker, old_state: CircuitBreakerState | None, new_state: CircuitBreakerState
    ) -> None:
        """Called when the breaker changes state."""

    def failure(self, cb: CircuitBreaker, exc: BaseException) -> None:
        """Called when the protected function fails."""

    def success(self, cb: CircuitBreaker) -> None:
        """Called when the protected function succeeds."""


class CircuitBreakerState:
    """A state as pybreaker's listeners see it: ``name`` is ``'closed'``, ``'open'`` or
    ``'half-open'``."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CircuitBreakerState):
            return self.name == other.name
        return self.name == other

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"<CircuitBreakerState {self.name}>"

    __str__ = __repr__


class CircuitMemoryStorage:
    """pybreaker's in-process storage: the breaker's state lives in this process."""

    def __init__(self, state: str = STATE_CLOSED) -> None:
        self._initial = _state_name(state, "state")

    @property
    def initial_state(self) -> str:
        return self._initial

    store: _native.Store | None = None
    name: str | None = None


def _state_name(state: object, what: str) -> str:
    """One of pybreaker's state names (``InvalidArgumentError`` for anything else)."""
    if not isinstance(state, str) or state not in (STATE_CLOSED, STATE_OPEN, STATE_HALF_OPEN):
        raise InvalidArgumentError(f"{what} must be {STATE_CLOSED!r}, {STATE_OPEN!r} or {STATE_HALF_OPEN!r}")
    return state


def _redis_url(client: Any) -> str:
    """The URL of a redis-py client (its address and credentials; nothing else is used)."""
    from urllib.parse import quote

    if hasattr(client, "get_nodes"):  # redis.cluster.RedisCluster
        hosts = ",".join(f"{n.host}:{n.port}" for n in client.get_nodes())
        return f"redis+cluster://{hosts}"
    try:
        kw = client.connection_pool.connection_kwargs
    except AttributeError:
        raise TypeError(
            "redis_object must be a redis-py client, a redis:// URL or a bastion.Store, "
            f"not {type(client).__name__}"
        ) from None
    if kw.get("path"):
        return f"unix://{kw['path']}?db={kw.get('db', 0)}"
    auth = ""
    if kw.get("password"):
        user = quote(str(kw.get("username") or ""), safe="")
        auth = f"{user}:{quote(str(kw['password']), safe='')}@"
    return f"redis://{auth}{kw.get('host', 'localhost')}:{kw.get('port', 6379)}/{kw.get('db', 0)}"


class CircuitRedisStorage(CircuitMemoryStorage):
    """pybreaker's Redis storage: the state is shared through Redis by every process whose
    breaker has this ``namespace`` (else the breaker's ``name``)."""

    def __init__(
        self,
        state: str,
        redis_object: Any,
        namespace: str | None = None,
        fallback_circuit_state: str = STATE_CLOSED,
        cluster_mode: bool = False,
    ) -> None:
        super().__init__(state)
        if isinstance(redis_object, _native.Store):
            self.store = redis_object
        elif isinstance(redis_object, str):
            self.store = _native.Store(redis_object)
        else:
            self.store = _native.Store(_redis_url(redis_object))
        if self.store.kind == "memory":
            raise InvalidArgumentError("CircuitRedisStorage needs a Redis store")
        self.name = namespace
        # While Redis is unreachable bastion carries on from the last state it saw, which
        # subsumes pybreaker's fixed fallback state.
        self.fallback_circuit_state = _state_name(fallback_circuit_state, "fallback_circuit_state")
        self.cluster_mode = cluster_mode


def _rules(rules: Iterable[ErrorRule]) -> list[ErrorRule]:
    """Excluded-exception rules, checked now (``TypeError`` for a rule that is neither an exception
    type nor a predicate) rather than on every later failure."""
    if isinstance(rules, str | bytes) or not isinstance(rules, Iterable):
        raise TypeError("exclude must be a list of exception types or predicates")
    out = list(rules)
    _split(out)
    return out


_LISTENER_METHODS = ("before_call", "state_change", "failure", "success")


def _listeners(listeners: Iterable[CircuitBreakerListener]) -> list[CircuitBreakerListener]:
    """Listeners, checked now: each has pybreaker's four methods (``TypeError`` otherwise, rather
    than an ``AttributeError`` on a later call)."""
    if isinstance(listeners, str | bytes) or not isinstance(listeners, Iterable):
        raise TypeError("listeners must be a list of CircuitBreakerListener")
    out = list(listeners)
    for listener in out:
        if not all(callable(getattr(listener, m, None)) for m in _LISTENER_METHODS):
            raise TypeError(
                "a listener must have before_call, state_change, failure and success "
                f"(a CircuitBreakerListener), not {type(listener).__name__}"
            )
    return out


def _wrapper() -> None:
    """What ``calling()`` reports to ``before_call`` listeners as the function called."""


class CircuitBreaker:
    """pybreaker's ``CircuitBreaker`` on bastion's core."""

    def __init__(
        self,
        fail_max: int = 5,
        reset_timeout: float = 60,
        success_threshold: int = 1,
        exclude: Iterable[ErrorRule] | None = None,
        listeners: Iterable[CircuitBreakerListener] | None = None,
        state_storage: object | None = None,
        name: str | None = None,
        throw_new_error_on_trip: bool = True,
    ) -> None:
        if state_storage is not None and not isinstance(state_storage, CircuitMemoryStorage):
            raise InvalidArgumentError(
                "state_storage must be CircuitMemoryStorage or CircuitRedisStorage "
                "(from bastion.compat.pybreaker)"
            )
        self._storage = state_storage or CircuitMemoryStorage()
        self._fail_max = fail_max
        self._reset_timeout = reset_timeout
        self._success_threshold = success_threshold
        self._excluded: list[ErrorRule] = _rules(exclude or ())
        self._listeners: list[CircuitBreakerListener] = _listeners(listeners or ())
        self._name = name
        self._throw_new_error_on_trip = throw_new_error_on_trip
        # pybreaker tells the failure listeners before the state_change ones: a transition caused
        # by a failure is held here (per thread) until they have run.
        self._held = threading.local()
        self._build()

    def _build(self) -> None:
        self._core = _native.CircuitBreaker(
            self._storage.name or self._name or "pybreaker",
            fail_max=self._fail_max,
            reset_timeout=self._reset_timeout,
            success_threshold=self._success_threshold,
            on_event=self._on_event,
            store=self._storage.store,
        )
        fresh = self._core.stats()["generation"] == 0
        if fresh and self._storage.initial_state == STATE_OPEN:
            self._core.open()

    def _on_event(self, event: dict[str, Any]) -> None:
        held = getattr(self._held, "events", None)
        if held is not None:
            held.append(event)
            return
        self._state_changed(event)

    def _state_changed(self, event: dict[str, Any]) -> None:
        old = CircuitBreakerState(event["from"])
        new = CircuitBreakerState(event["to"])
        for listener in self._listeners:
            listener.state_change(self, old, new)

    # ---- settings ------------------------------------------------------------------------

    @property
    def fail_max(self) -> int:
        return self._fail_max

    @fail_max.setter
    def fail_max(self, value: int) -> None:
        self._rebuild("_fail_max", value)

    @property
    def reset_timeout(self) -> float:
        return self._reset_timeout

    @reset_timeout.setter
    def reset_timeout(self, value: float) -> None:
        self._rebuild("_reset_timeout", value)

    @property
    def success_threshold(self) -> int:
        return self._success_threshold

    @property
    def name(self) -> str | None:
        return self._name

    @name.setter
    def name(self, value: str | None) -> None:
        self._rebuild("_name", value)

    def _rebuild(self, setting: str, value: Any) -> None:
        """Rebuilds the breaker with one setting changed; a value the core refuses leaves the
        breaker as it was."""
        before = getattr(self, setting)
        setattr(self, setting, value)
        try:
            self._build()
        except BaseException:
            setattr(self, setting, before)
            raise

    # ---- state ---------------------------------------------------------------------------

    @property
    def current_state(self) -> str:
        """``'closed'``, ``'open'`` or ``'half-open'``."""
        return self._core.state

    @property
    def state(self) -> CircuitBreakerState:
        return CircuitBreakerState(self._core.state)

    @property
    def fail_counter(self) -> int:
        """Failures in a row."""
        return self._core.stats()["consecutive_failures"]

    @property
    def success_counter(self) -> int:
        """Probe successes in the current half-open state."""
        return self._core.stats()["probe_successes"]

    def open(self) -> bool:
        """Opens the breaker."""
        self._core.open()
        return True

    def close(self) -> None:
        """Closes the breaker, clearing its counters."""
        self._core.close()

    def half_open(self) -> None:
        """Moves the breaker to half-open."""
        self._core.half_open()

    # ---- excluded exceptions and listeners -------------------------------------------------

    @property
    def excluded_exceptions(self) -> tuple[ErrorRule, ...]:
        return tuple(self._excluded)

    def add_excluded_exception(self, exception: ErrorRule) -> None:
        self._excluded.extend(_rules([exception]))

    def add_excluded_exceptions(self, *exceptions: ErrorRule) -> None:
        self._excluded.extend(_rules(exceptions))

    def remove_excluded_exception(self, exception: ErrorRule) -> None:
        self._excluded.remove(exception)

    def is_system_error(self, exception: BaseException) -> bool:
        """Whether ``exception`` counts as a failure (it is not excluded)."""
        return not _matches(exception, *_split(self._excluded))

    @property
    def listeners(self) -> tuple[CircuitBreakerListener, ...]:
        return tuple(self._listeners)

    def add_listener(self, listener: CircuitBreakerListener) -> None:
        self._listeners.extend(_listeners([listener]))

    def add_listeners(self, *listeners: CircuitBreakerListener) -> None:
        self._listeners.extend(_listeners(listeners))

    def remove_listener(self, listener: CircuitBreakerListener) -> None:
        self._listeners.remove(listener)

    # ---- calls ---------------------------------------------------------------------------

    def _permit(self) -> Any:
        try:
            return self._core.acquire()
        except CircuitOpenError as e:
            raise CircuitBreakerError(
                "Timeout not elapsed yet, circuit breaker still open", e.retry_after
            ) from None

    def _failed(self, permit: Any, exc: BaseException) -> None:
        if not self.is_system_error(exc):
            permit.success()
            for listener in self._listeners:
                listener.success(self)
            return
        was_probe = permit.is_probe
        self._held.events = []
        try:
            moved_to = permit.failure()
            for listener in self._listeners:
                listener.failure(self, exc)
        finally:
            held, self._held.events = self._held.events, None
        for event in held:
            self._state_changed(event)
        if moved_to == STATE_OPEN and self._throw_new_error_on_trip:
            reason = (
                "Trial call failed, circuit breaker opened"
                if was_probe
                else "Failures threshold reached, circuit breaker opened"
            )
            raise CircuitBreakerError(reason, self._core.stats()["retry_after"]) from exc

    def _succeeded(self, permit: Any) -> None:
        permit.success()
        for listener in self._listeners:
            listener.success(self)

    def call(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Calls ``func(*args, **kwargs)`` through the breaker."""
        permit = self._permit()
        for listener in self._listeners:
            listener.before_call(self, func, *args, **kwargs)
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            self._failed(permit, exc)
            raise
        self._succeeded(permit)
        return result

    async def call_async(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Awaits ``func(*args, **kwargs)`` through the breaker."""
        permit = self._permit()
        for listener in self._listeners:
            listener.before_call(self, func, *args, **kwargs)
        try:
            result = await func(*args, **kwargs)
        except BaseException as exc:
            self._failed(permit, exc)
            raise
        self._succeeded(permit)
        return result

    @contextmanager
    def calling(self) -> Iterator[None]:
        """A context manager guarding the block as one call."""
        permit = self._permit()
        # pybreaker runs the block as a call of its internal `_wrapper`, and its listeners'
        # before_call see that function.
        for listener in self._listeners:
            listener.before_call(self, _wrapper)
        try:
            yield
        except BaseException as exc:
            self._failed(permit, exc)
            raise
        self._succeeded(permit)

    def __call__(self, *call_args: Any, **call_kwargs: Any) -> Any:
        """``@breaker`` on a function (or a coroutine function)."""
        func = call_args[0] if len(call_args) == 1 and not call_kwargs and callable(call_args[0]) else None
        if func is None:
            raise TypeError("use the breaker as @breaker on a function")
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def guarded_async(*args: Any, **kwargs: Any) -> Any:
                return await self.call_async(func, *args, **kwargs)

            return guarded_async

        @functools.wraps(func)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            return self.call(func, *args, **kwargs)

        return guarded

    def __repr__(self) -> str:
        return f"CircuitBreaker(name={self._name!r}, state={self.current_state!r})"
