"""CircuitBreaker from Python: transitions under a ManualClock through every way of calling (call,
acall, decorator, context managers, two-step permits), which errors count, cancellation, parallel
calls, events, bad arguments; and bastion.compat.pybreaker side by side with pybreaker itself."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pybreaker as real_pybreaker
import pytest
from bastion import CircuitBreaker, CircuitOpenError, InvalidArgumentError, ManualClock
from bastion.compat import pybreaker
from conftest import NOW


class Upstream(Exception):
    """The protected dependency failed."""


class NotFound(Exception):
    """A business error: the dependency answered."""


def boom() -> None:
    raise Upstream("down")


def reference(clock: ManualClock, **kwargs: Any) -> CircuitBreaker:
    """Reference deployment 1's breaker: 3 failures, 60 s, 2 successes."""
    options: dict[str, Any] = {"fail_max": 3, "reset_timeout": 60, "success_threshold": 2}
    options.update(kwargs)
    return CircuitBreaker("identify", clock=clock, **options)


def test_failures_open_it_and_two_probe_successes_close_it() -> None:
    clock = ManualClock(NOW)
    events: list[dict[str, Any]] = []
    b = reference(clock, on_event=events.append)
    for _ in range(3):
        with pytest.raises(Upstream):
            b.call(boom)
    assert b.state == "open"
    with pytest.raises(CircuitOpenError) as rejected:
        b.call(lambda: "never called")
    assert rejected.value.retry_after == 60
    assert rejected.value.code == "CIRCUIT_OPEN"
    clock.advance(60)
    assert b.state == "half-open"
    assert b.call(lambda: "ok") == "ok"
    assert b.state == "half-open"
    assert b.call(lambda: "ok") == "ok"
    assert b.state == "closed"
    assert [(e["event"], e["category"], e["from"], e["to"]) for e in events] == [
        ("circuit_open", "[CIRCUIT]", "closed", "open"),
        ("circuit_half_open", "[CIRCUIT]", "open", "half-open"),
        ("circuit_closed", "[CIRCUIT]", "half-open", "closed"),
    ]
    assert events[0]["breaker"] == "identify"
    assert events[0]["retry_after"] == "60"


def test_the_decorator_and_context_managers_sync_and_async() -> None:
    clock = ManualClock(NOW)
    b = reference(clock)
    calls: list[int] = []

    @b
    def fetch(n: int) -> int:
        calls.append(n)
        if n < 0:
            raise Upstream
        return n * 2

    @b
    async def afetch(n: int) -> int:
        calls.append(n)
        if n < 0:
            raise Upstream
        return n * 3

    assert fetch(2) == 4
    assert fetch.__name__ == "fetch"
    with pytest.raises(Upstream):
        fetch(-1)
    with pytest.raises(Upstream), b.calling():
        raise Upstream

    async def main() -> int:
        with pytest.raises(Upstream):
            await afetch(-1)
        # Three in a row now: open.
        with pytest.raises(CircuitOpenError):
            await afetch(5)
        with pytest.raises(CircuitOpenError):
            async with b.calling():
                pass
        clock.advance(60)
        async with b.calling():
            pass
        return await afetch(5)

    assert asyncio.run(main()) == 15
    assert b.state == "closed"
    assert calls == [2, -1, -1, 5]


def test_excluded_errors_count_as_successes_and_include_narrows_failures() -> None:
    clock = ManualClock(NOW)
    b = reference(clock, exclude=[NotFound, lambda e: isinstance(e, KeyError)])

    def not_found() -> None:
        raise NotFound

    def key_error() -> None:
        raise KeyError("x")

    for _ in range(2):
        with pytest.raises(Upstream):
            b.call(boom)
    with pytest.raises(NotFound):
        b.call(not_found)  # the dependency answered: the run of failures ends
    for _ in range(2):
        with pytest.raises(Upstream):
            b.call(boom)
    with pytest.raises(KeyError):
        b.call(key_error)
    assert b.stats()["consecutive_failures"] == 0
    assert b.state == "closed"

    only = reference(clock, include=[Upstream])
    for _ in range(5):
        with pytest.raises(ValueError):
            only.call(int, "not a number")
    assert only.state == "closed"
    assert only.is_failure(Upstream()) and not only.is_failure(ValueError())


def test_a_result_can_be_a_failure() -> None:
    b = reference(ManualClock(NOW), result_is_failure=lambda status: status >= 500)
    for _ in range(3):
        assert b.call(lambda: 503) == 503
    assert b.state == "open"
    # The same rule for awaited calls.
    a = reference(ManualClock(NOW), result_is_failure=lambda status: status >= 500)

    async def status() -> int:
        return 502

    async def main() -> None:
        for _ in range(3):
            assert await a.acall(status) == 502

    asyncio.run(main())
    assert a.state == "open"


def test_a_call_past_the_call_timeout_is_a_failure() -> None:
    clock = ManualClock(NOW)
    b = reference(clock, call_timeout="2s")
    assert b.stats()["timeouts"] == 0

    def slow() -> str:
        clock.advance(3)  # the call took 3 s
        return "late"

    async def aslow() -> str:
        clock.advance(3)
        return "late"

    assert b.call(slow) == "late"
    assert b.call(slow) == "late"
    assert asyncio.run(b.acall(aslow)) == "late"
    stats = b.stats()
    assert (stats["timeouts"], stats["failures"], stats["state"]) == (3, 3, "open")


def test_acall_cancels_a_hung_call_at_the_call_timeout() -> None:
    b = CircuitBreaker("hung", fail_max=1, call_timeout=0.01)

    async def hung() -> None:
        await asyncio.Event().wait()

    async def main() -> None:
        with pytest.raises(TimeoutError):
            await b.acall(hung)

    asyncio.run(main())
    assert b.state == "open"


def test_a_cancelled_probe_frees_its_slot() -> None:
    clock = ManualClock(NOW)
    b = reference(clock)
    b.open()
    clock.advance(60)
    started = asyncio.Event()

    async def probe() -> None:
        started.set()
        await asyncio.Event().wait()

    async def main() -> str:
        task = asyncio.create_task(b.acall(probe))
        await started.wait()
        assert b.try_acquire() is None  # the one probe slot is taken
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        permit = b.try_acquire()
        assert permit is not None and permit.is_probe
        permit.success()
        return b.state

    assert asyncio.run(main()) == "half-open"
    assert b.stats()["ignored"] == 1


def test_two_step_permits_report_once() -> None:
    clock = ManualClock(NOW)
    b = reference(clock)
    permit = b.acquire()
    assert permit.failure() is None
    assert permit.failure() is None  # a second report does nothing
    assert b.stats()["consecutive_failures"] == 1
    b.acquire().failure()
    assert b.acquire().failure() == "open"
    assert b.try_acquire() is None
    assert repr(permit) == "BreakerPermit(probe=False, reported=True)"


def test_calls_run_in_parallel_through_a_closed_breaker() -> None:
    # Eight threads are inside the protected call at once: the barrier opens only if the breaker
    # holds nothing around the call (pybreaker's lock would keep all but one out).
    b = CircuitBreaker("parallel")
    barrier = threading.Barrier(8, timeout=10)
    results: list[int] = []

    def work() -> None:
        results.append(b.call(barrier.wait))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == list(range(8))
    assert b.stats()["successes"] == 8


def test_a_failure_rate_window() -> None:
    clock = ManualClock(NOW)
    b = CircuitBreaker("rate", failure_rate=0.5, window_calls=10, minimum_calls=10, clock=clock)
    for i in range(9):
        if i % 2:
            b.call(lambda: None)
        else:
            with pytest.raises(Upstream):
                b.call(boom)
    assert b.state == "closed"
    b.call(lambda: None)
    assert b.state == "open"
    t = CircuitBreaker("time", failure_rate=0.5, window_time="10s", minimum_calls=2, clock=clock)
    with pytest.raises(Upstream):
        t.call(boom)
    clock.advance(11)
    t.call(lambda: None)
    assert t.stats()["window_calls"] == 1  # the failure left the window
    assert t.state == "closed"


def test_bad_arguments_are_typed_errors() -> None:
    for kwargs in [
        {"fail_max": 0},
        {"reset_timeout": 0},
        {"reset_timeout": "soon"},
        {"success_threshold": 0},
        {"window_calls": 10},  # a window without a rate
        {"failure_rate": 2.0},
        {"failure_rate": 0.5, "window_calls": 10, "window_time": 60},
        {"slow_call_rate": 0.5},  # without slow_call_duration
        {"half_open_max_calls": 0},
    ]:
        with pytest.raises(InvalidArgumentError):
            CircuitBreaker("bad", **kwargs)
    with pytest.raises(TypeError):
        CircuitBreaker("bad", exclude=["not a rule"])  # type: ignore[list-item]
    with pytest.raises(OverflowError):
        CircuitBreaker("bad", fail_max=-1)


# ---- bastion.compat.pybreaker against pybreaker ---------------------------------------------


class Recorder:
    """A pybreaker listener recording what it sees (works with both modules)."""

    def __init__(self) -> None:
        self.seen: list[tuple[Any, ...]] = []

    def before_call(self, cb: Any, func: Any, *args: Any, **kwargs: Any) -> None:
        self.seen.append(("before_call", func.__name__, args))

    def state_change(self, cb: Any, old_state: Any, new_state: Any) -> None:
        self.seen.append(("state_change", old_state.name if old_state else None, new_state.name))

    def failure(self, cb: Any, exc: BaseException) -> None:
        self.seen.append(("failure", type(exc).__name__))

    def success(self, cb: Any) -> None:
        self.seen.append(("success",))


def scenario(module: Any) -> list[Any]:
    """pybreaker-style code, run unchanged against either module; returns what it observed."""
    log: list[Any] = []
    listener_cls = type("L", (Recorder, module.CircuitBreakerListener), {})
    listener = listener_cls()
    breaker = module.CircuitBreaker(
        fail_max=3,
        reset_timeout=60,
        success_threshold=2,
        exclude=[NotFound],
        listeners=[listener],
        name="identify",
    )

    @breaker
    def identify(x: int) -> int:
        if x < 0:
            raise Upstream("down")
        if x == 0:
            raise NotFound
        return x

    def attempt(x: int) -> None:
        try:
            log.append(("ok", identify(x)))
        except module.CircuitBreakerError as e:
            log.append(("breaker_error", str(e)))
        except Exception as e:
            log.append(("error", type(e).__name__))
        log.append((breaker.current_state, breaker.fail_counter))

    for x in [1, -1, -1, 0, -1, -1, -1, 5]:
        attempt(x)
    breaker.half_open()
    log.append(("state", breaker.current_state, breaker.state.name))
    attempt(7)
    log.append(("success_counter", breaker.success_counter))
    attempt(8)
    breaker.half_open()
    attempt(-1)  # a failed trial opens it again
    breaker.close()
    log.append(("closed", breaker.current_state, breaker.fail_counter))
    with breaker.calling():
        pass
    try:
        with breaker.calling():
            raise Upstream
    except Upstream:
        log.append("calling re-raised")
    breaker.open()
    log.append(("opened", breaker.current_state))
    log.append(("listener", listener.seen))
    log.append(("name", breaker.name, breaker.fail_max, breaker.reset_timeout))
    return log


def test_pybreaker_code_runs_unchanged_and_observes_what_pybreaker_does() -> None:
    assert scenario(pybreaker) == scenario(real_pybreaker)


def test_pybreaker_throw_new_error_on_trip_false_reraises_the_original() -> None:
    for module in (pybreaker, real_pybreaker):
        b = module.CircuitBreaker(fail_max=1, throw_new_error_on_trip=False)
        with pytest.raises(Upstream):
            b.call(boom)
        assert b.current_state == "open"
        with pytest.raises(module.CircuitBreakerError):
            b.call(boom)


def test_pybreaker_errors_carry_retry_after_and_are_circuit_open_errors() -> None:
    b = pybreaker.CircuitBreaker(fail_max=1, reset_timeout=30)
    with pytest.raises(pybreaker.CircuitBreakerError) as tripped:
        b.call(boom)
    assert isinstance(tripped.value.__cause__, Upstream)
    with pytest.raises(CircuitOpenError) as open_:
        b.call(boom)
    assert 29 < open_.value.retry_after <= 30
    with pytest.raises(InvalidArgumentError):
        pybreaker.CircuitBreaker(state_storage=object())


ABSURD_CLOCK_CHILD = """
from bastion import CircuitBreaker, ManualClock
for start, jump in [(0, 1e300), (0, -1e300), (1e300, -1e300), (-1e300, 1e300), (9.2e12, 9.2e12)]:
    clock = ManualClock(start)
    b = CircuitBreaker("absurd", fail_max=1, reset_timeout=60, half_open_max_calls=2, clock=clock)
    b.acquire().failure()
    assert b.state == "open", start
    clock.advance(jump)
    b.stats()
    p = b.try_acquire()
    if p is not None:
        p.success()
    clock.advance(jump)
    b.half_open()
    first = b.try_acquire()
    b.try_acquire()
    if first is not None:
        first.ignore()
    b.close()
print("alive")
"""


def test_a_manual_clock_at_absurd_times_neither_panics_nor_hangs_the_breaker() -> None:
    # Set or advanced by 1e300 s the clock read i64::MAX microseconds and the breaker's time
    # arithmetic overflowed: a Rust panic with the breaker's lock held, which hung the process.
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", ABSURD_CLOCK_CHILD], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "alive"
