"""Identification through a circuit breaker and a single-flight cache (reference deployment 1).

- The breaker: 3 failures in a row open it for 60 s (callers fail fast: no 10 s timeout each),
  then probes; 2 successful probes close it. Transitions are logged with ``[CIRCUIT]``. With Redis
  the state is shared by every worker.
- The cache: a result is kept for a day; concurrent identical requests (in this process and, with
  Redis, in every worker) wait for one upstream call instead of each paying for one.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

from bastion import Cache, CircuitBreaker
from bastion.django.conf import cached, get_clock, get_store
from django.conf import settings
from django.utils.module_loading import import_string

log = logging.getLogger("plantid")


def _log_transition(event: dict[str, Any]) -> None:
    log.warning("[CIRCUIT] %s: %s", event.get("breaker", "identify"), event.get("event"))


def breaker() -> CircuitBreaker:
    def build() -> CircuitBreaker:
        store = get_store()
        shared = store.kind != "memory"
        return CircuitBreaker(
            "identify",
            fail_max=3,
            reset_timeout=60,
            success_threshold=2,
            on_event=_log_transition,
            # Shared through Redis by every worker (reading the store's clock), else this process's.
            store=store if shared else None,
            clock=None if shared else get_clock(),
        )

    return cached("plantid.breaker", build)


def cache() -> Cache:
    return cached(
        "plantid.cache",
        lambda: Cache(
            get_store(), namespace="identify", ttl=settings.IDENTIFY_CACHE_TTL, lease_ttl=30, wait_timeout=15
        ),
    )


def upstream() -> Callable[[str], dict[str, Any]]:
    return import_string(settings.IDENTIFY_UPSTREAM)  # type: ignore[no-any-return]


def identify(image: str) -> dict[str, Any]:
    """The identification of ``image``: cached, else one guarded upstream call for all callers."""
    key = hashlib.sha256(image.encode()).hexdigest()
    call = upstream()
    return cache().get(key, lambda: breaker().call(call, image))  # type: ignore[no-any-return]
