"""Account lockout for Django logins, with django-axes' settings, on :class:`bastion.Lockout`.

Enable it by putting the backend first in ``AUTHENTICATION_BACKENDS``::

    AUTHENTICATION_BACKENDS = [
        "bastion.django.lockout.LockoutBackend",
        "django.contrib.auth.backends.ModelBackend",
    ]

Every ``authenticate()`` (the JWT obtain view, the admin and ``LoginView`` forms, your own views)
then goes through it: a locked attempt is refused before any password is checked, a failure
(Django's ``user_login_failed``) is counted in one atomic store decision, a success
(``user_logged_in``) resets the user's counts when ``AXES_RESET_ON_SUCCESS`` says so. The settings:

- ``AXES_FAILURE_LIMIT`` (bastion's default 10), ``AXES_COOLOFF_TIME`` (hours as a number, or a
  timedelta; default 1 hour; ``None`` is not a permanent lock here),
  ``AXES_LOCKOUT_PARAMETERS`` (default ``[["username"], ["ip_address"]]``),
  ``AXES_RESET_ON_SUCCESS`` (default True), ``AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT``,
  ``AXES_USERNAME_FORM_FIELD``, ``AXES_HTTP_RESPONSE_CODE`` (default 429).

The lockout answer (:func:`lockout_response`, also given by :class:`LockoutMiddleware` for views
that are not bastion's) is the same for every username: the status, ``Retry-After`` and an RFC 9457
problem body. :data:`bastion.django.signals.user_locked_out` is sent once per lock, by the failure
that made it.
"""

from __future__ import annotations

import contextvars
import importlib
import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import BaseBackend
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.http import HttpRequest, HttpResponse

from bastion import Lockout, LockoutState
from bastion._native import http_answer_for
from bastion.exceptions import InvalidArgumentError

from .conf import bastion_setting, cached, get_clock, get_store, request_client_ip, seconds
from .middleware import HybridMiddleware, django_response
from .signals import user_locked_out

__all__ = [
    "LockedOut",
    "LockoutBackend",
    "LockoutMiddleware",
    "get_lockout",
    "lockout_enabled",
    "lockout_response",
    "record_login_success",
]

log = logging.getLogger("bastion.django")

BACKEND = "bastion.django.lockout.LockoutBackend"
_STATE_ATTR = "_bastion_lockout"
# The locked_out events of the failure being recorded (one attempt may lock several keys).
_pending: contextvars.ContextVar[list[dict[str, str]] | None] = contextvars.ContextVar(
    "bastion_lockout_events", default=None
)


class LockedOut(PermissionDenied):
    """Raised by the backend for a locked attempt: Django's ``authenticate`` stops and returns None."""


def _cooloff() -> float:
    if not hasattr(settings, "AXES_COOLOFF_TIME") or settings.AXES_COOLOFF_TIME is None:
        return 3600.0
    value = settings.AXES_COOLOFF_TIME
    if isinstance(value, str):
        module, _, name = value.rpartition(".")
        value = getattr(importlib.import_module(module), name)
    if callable(value):
        value = value()
    return seconds(value, "AXES_COOLOFF_TIME", hours=True)


def _send_locked_out(request: HttpRequest | None, events: list[dict[str, str]]) -> None:
    first = events[0]
    user_locked_out.send(
        sender=Lockout,
        request=request,
        username=first.get("username"),
        ip_address=first.get("ip_address"),
        parameters=[e.get("parameters") for e in events],
        retry_after=max(int(e.get("retry_after", "0") or 0) for e in events),
    )


def _on_event(event: dict[str, str]) -> None:
    if event.get("event") == "locked_out":
        log.warning("[LOCKOUT] %s locked for %ss", event.get("parameters"), event.get("retry_after", "?"))
        pending = _pending.get()
        if pending is not None:  # a failure recorded by on_login_failed: one signal per attempt
            pending.append(event)
        else:
            _send_locked_out(None, [event])
    elif event.get("event") == "unlocked":
        log.info("[LOCKOUT] unlocked %s", {k: v for k, v in event.items() if k in ("username", "ip_address")})


def _build() -> Lockout:
    parameters = getattr(settings, "AXES_LOCKOUT_PARAMETERS", None)
    try:
        return Lockout(
            get_store(),
            failure_limit=getattr(settings, "AXES_FAILURE_LIMIT", 10),
            cooloff=_cooloff(),
            parameters=parameters,
            reset_on_success=getattr(settings, "AXES_RESET_ON_SUCCESS", True),
            extend_on_failure=getattr(settings, "AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT", True),
            outage_policy=bastion_setting("OUTAGE_POLICY")["LOCKOUT"],
            clock=get_clock(),
            on_event=_on_event,
        )
    except (InvalidArgumentError, TypeError) as e:
        raise ImproperlyConfigured(f"AXES_* lockout settings: {e}") from None


def get_lockout() -> Lockout:
    """The process's :class:`bastion.Lockout`, built from the ``AXES_*`` settings."""
    return cached("lockout", _build)


def lockout_enabled() -> bool:
    return BACKEND in settings.AUTHENTICATION_BACKENDS


def _username_field() -> str:
    return getattr(settings, "AXES_USERNAME_FORM_FIELD", None) or get_user_model().USERNAME_FIELD


def _attempt(request: HttpRequest | None, username: Any) -> dict[str, str | None]:
    ip = ua = None
    if request is not None:
        ip = request_client_ip(request)
        ua = request.META.get("HTTP_USER_AGENT") or None
    return {
        "username": username if isinstance(username, str) else None,
        "ip_address": ip,
        "user_agent": ua,
    }


def _remember(request: HttpRequest | None, state: LockoutState) -> None:
    if request is not None and state.locked:
        setattr(request, _STATE_ATTR, state)


class LockoutBackend(BaseBackend):
    """Refuses locked attempts before any password is verified; authenticates nobody itself
    (``aauthenticate`` runs it in a thread, as Django's ``BaseBackend`` does)."""

    def authenticate(self, request: HttpRequest | None, **credentials: Any) -> None:  # type: ignore[override]
        state = get_lockout().check(**_attempt(request, credentials.get(_username_field())))
        if state.locked:
            _remember(request, state)
            raise LockedOut("too many failed login attempts")
        return None


def on_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **_: Any
) -> None:
    """``user_login_failed``: one failure counted against every key of the attempt."""
    if not lockout_enabled():
        return
    events: list[dict[str, str]] = []
    token = _pending.set(events)
    try:
        state = get_lockout().record_failure(**_attempt(request, credentials.get(_username_field())))
    finally:
        _pending.reset(token)
    _remember(request, state)
    if events:
        _send_locked_out(request, events)


def record_login_success(request: HttpRequest | None, user: Any) -> None:
    """A successful login: the user's own counts reset (``AXES_RESET_ON_SUCCESS``). Sent by
    Django's ``login()`` (``user_logged_in``) and by the JWT obtain view, which logs no session in."""
    if lockout_enabled() and request is not None:
        get_lockout().record_success(**_attempt(request, user.get_username()))


def on_logged_in(sender: Any, request: HttpRequest | None, user: Any, **_: Any) -> None:
    """``user_logged_in``."""
    record_login_success(request, user)


def lockout_status() -> int:
    """The lockout answer's status: ``AXES_HTTP_RESPONSE_CODE``, else ``BASTION['LOCKOUT_STATUS']``
    (checked by ``manage.py check``: a 4xx)."""
    status = getattr(settings, "AXES_HTTP_RESPONSE_CODE", None) or bastion_setting("LOCKOUT_STATUS")
    return int(status)


def lockout_response(request: HttpRequest) -> HttpResponse | None:
    """The lockout answer when this request's attempt is locked, else None."""
    state: LockoutState | None = getattr(request, _STATE_ATTR, None)
    if state is None or not state.locked:
        return None
    answer = http_answer_for("ACCOUNT_LOCKED", state.retry_after, lockout_status())
    return None if answer is None else django_response(answer)


class LockoutMiddleware(HybridMiddleware):
    """Answers with the lockout response when a view's login attempt was locked (the admin's and
    ``LoginView``'s forms answer 200 with an error otherwise). Sync and async."""

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        response = self.get_response(request)
        return lockout_response(request) or response

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        response = await self.get_response(request)  # type: ignore[misc]
        return lockout_response(request) or response


def unlock(username: str | None = None, ip_address: str | None = None) -> int:
    """Removes the locks and counts of a username, an address, or that user at that address."""
    return get_lockout().unlock(username, ip_address)


def locked(limit: int = 1000) -> list[dict[str, Any]]:
    """The locks in force, soonest to end first."""
    return get_lockout().locked(limit)
