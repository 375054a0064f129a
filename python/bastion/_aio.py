"""Completion of the awaitables the native extension returns (internal).

The extension runs I/O on its own threads and hands each result back to the
asyncio loop that awaited it: queued, with the loop woken through a socket it
watches (``loop.add_reader``), then completed with ``_resolve`` on the loop's
thread; or, on a loop that cannot watch a socket, with
``loop.call_soon_threadsafe(_resolve, ...)``.
"""

from __future__ import annotations

import asyncio
from typing import Any


def _resolve(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    # A cancelled awaitable keeps its cancellation; the result is dropped.
    if future.done():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
