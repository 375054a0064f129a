"""The hostile values the hostile-input suites pass in place of each argument (test_hostile_input.py
for the native module, test_hostile_wrappers.py for the Python layers): wrong types, 2 MiB strings
and bytes, NUL bytes, lone surrogates, bytes that are not UTF-8, nesting 100,000 levels deep,
NaN, infinities and integers beyond 64 bits; and how both suites run a call and judge its outcome."""

from __future__ import annotations

import asyncio
import faulthandler
import inspect
import math
from collections.abc import Callable
from typing import Any

from bastion import BastionError

MB2 = "x" * (2 * 1024 * 1024)


def deep_list(depth: int) -> Any:
    v: Any = []
    for _ in range(depth):
        v = [v]
    return v


def deep_dict(depth: int) -> Any:
    v: Any = {}
    for _ in range(depth):
        v = {"a": v}
    return v


HOSTILE: dict[str, Any] = {
    "none": None,
    "object": object(),
    "float": 1.5,
    "nan": math.nan,
    "inf": math.inf,
    "-inf": -math.inf,
    "negative": -1,
    "2**64": 2**64,
    "-2**64": -(2**64),
    "empty": "",
    "nul": "a\x00b",
    "surrogate": "\ud800",
    "huge-str": MB2,
    "huge-bytes": MB2.encode(),
    "non-utf8": b"\xff\xfe\x80 \xc3\x28",
    "deep-list": deep_list(100_000),
    "deep-dict": deep_dict(100_000),
    "list": ["a", 1, None],
    "dict": {"a": object()},
}


def call_in_loop(fn: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
    """``fn(*args, **kwargs)`` inside a running event loop (so awaitable twins can start), its
    awaitable result awaited for at most 10 s."""

    async def run() -> Any:
        result = fn(*args, **kwargs)
        if inspect.isawaitable(result):
            return await asyncio.wait_for(result, 10)
        return result

    return asyncio.run(run())


def typed(outcome: BaseException) -> bool:
    """Whether an exception is a typed refusal: a builtin argument error or a bastion error."""
    return isinstance(outcome, (TypeError, OverflowError, ValueError, BastionError))


def run_guarded(fn: Callable[[], Any]) -> BaseException | None:
    """Runs ``fn``; the exception it raised, or None. A hang dumps every thread's stack and ends
    the run instead of stalling CI."""
    faulthandler.dump_traceback_later(60, exit=True)
    try:
        fn()
    except BaseException as e:  # a panic is a BaseException: it must be seen too
        return e
    finally:
        faulthandler.cancel_dump_traceback_later()
    return None
