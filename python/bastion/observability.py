"""Security events to :mod:`logging`, Prometheus metrics and the health snapshot.

Events: every component's security events (authentication, token reuse, revocation, lockout,
unlock, rate-limit denial, breaker transitions, lost leases, store outages) go to one logger per
category under ``bastion``: ``bastion.auth``, ``bastion.security``, ``bastion.store``,
``bastion.lockout``, ``bastion.circuit``, ``bastion.lock`` and ``bastion.ratelimit``. The message
starts with the category's prefix (``[SECURITY] token_reuse subject="42" family="..."``), the level
follows the event's severity (info, warning, error), and the record carries the event as a dict in
``record.bastion_event``. Events hold identifiers only, never a secret or a whole token.

``import bastion`` turns this on for warnings and errors (failures, denials, lockouts, breakers
opening, outages); :func:`log_events` with ``logging.INFO`` adds the per-request successes. The
``bastion`` logger has a :class:`logging.NullHandler`: nothing is printed until the application
configures logging.

Metrics: :func:`metrics` renders every counter and gauge in the Prometheus text format
(:data:`CONTENT_TYPE`); :func:`health` / :func:`ahealth` ping every live store and list every
breaker's state, for readiness endpoints. The Django views are in
:mod:`bastion.django.observability`, the FastAPI routes in :func:`bastion.fastapi.observability_router`.
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any

from bastion._native import add_event_listener, ahealth, health, metrics

__all__ = ["CONTENT_TYPE", "add_event_listener", "ahealth", "health", "log_events", "metrics"]

#: The content type of :func:`metrics`' text (Prometheus exposition format 0.0.4).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}

logging.getLogger("bastion").addHandler(logging.NullHandler())

_lock = threading.Lock()
_floor: int | None = None


def _severity(level: int) -> str:
    if level <= logging.INFO:
        return "info"
    if level <= logging.WARNING:
        return "warning"
    return "error"


def _log(ceiling: int | None, event: dict[str, Any]) -> None:
    level = _LEVELS[event["severity"]]
    if ceiling is not None and level >= ceiling:
        return  # an earlier, higher listener logs it
    logger = logging.getLogger("bastion." + event["category"].strip("[]").lower())
    if logger.isEnabledFor(level):
        logger.log(level, "%s", event["message"], extra={"bastion_event": event})


def log_events(level: int = logging.WARNING) -> None:
    """Delivers the events of severity ``level`` and above to :mod:`logging`.

    Called with ``logging.WARNING`` when :mod:`bastion` is imported. Calling it again with a lower
    level adds the events in between; a higher level changes nothing (loggers' own levels filter
    further). Events below the lowest level asked for never leave the native code.
    """
    global _floor
    wanted = _LEVELS[_severity(level)]
    with _lock:
        if _floor is not None and wanted >= _floor:
            return
        add_event_listener(functools.partial(_log, _floor), _severity(level))
        _floor = wanted
