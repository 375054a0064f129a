"""DRF throttles on :class:`bastion.RateLimiter`: exact, shared through the store.

Drop-ins for DRF's ``AnonRateThrottle``, ``UserRateThrottle`` and ``ScopedRateThrottle``, reading
the same ``DEFAULT_THROTTLE_RATES`` and ``throttle_scope``. DRF's own read the request history
from the cache and write it back (two round trips, no atomicity): under concurrent requests they
admit several times the rate. Here each request is one atomic decision of the store, so of any
number of concurrent requests exactly the rate is admitted, across threads, processes and hosts
sharing one Redis. The window is exact (a sliding log) for limits up to 10,000 per window, a
sliding counter above (``BASTION["THROTTLE_ALGORITHM"]`` chooses another).

Anonymous clients are keyed by their address behind ``BASTION["TRUSTED_PROXIES"]`` (DRF's
``NUM_PROXIES`` keys on whatever ``X-Forwarded-For`` says unless set). Unknown rate units are an
error (DRF reads only the first letter: ``"100/dzz"`` is a day there).

Each decision is kept on the request; :class:`bastion.django.middleware.RateLimitMiddleware` adds
the rate-limit headers of the tightest one to the response.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from bastion import Decision
from bastion._native import RequestKey

from .conf import bastion_setting, limiter, record_decision, request_client_key

_USER_KEY = RequestKey(["user"])
_IP_KEY = RequestKey(["ip"])

__all__ = [
    "AnonRateThrottle",
    "QuotaThrottle",
    "ScopedRateThrottle",
    "SimpleRateThrottle",
    "UserRateThrottle",
]


class SimpleRateThrottle(BaseThrottle):
    """DRF's ``SimpleRateThrottle`` contract: ``scope``, ``rate`` (from ``DEFAULT_THROTTLE_RATES``
    unless set on the class), ``get_cache_key(request, view)`` (None: not throttled)."""

    scope: str | None = None
    rate: str | None = None

    def __init__(self) -> None:
        if self.rate is None:
            self.rate = self.get_rate()
        self.decision: Decision | None = None

    def get_rate(self) -> str | None:
        if self.scope is None:
            raise ImproperlyConfigured(
                f"You must set either `.scope` or `.rate` for '{type(self).__name__}' throttle"
            )
        try:
            return api_settings.DEFAULT_THROTTLE_RATES[self.scope]  # type: ignore[no-any-return]
        except KeyError:
            raise ImproperlyConfigured(f"No default throttle rate set for '{self.scope}' scope") from None

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        raise NotImplementedError(".get_cache_key() must be overridden")

    def get_ident(self, request: Request) -> str:
        """The client address (trusted-proxy aware; IPv6 grouped by prefix)."""
        return request_client_key(request._request)

    def user_or_ident(self, request: Request) -> str:
        """``user:<pk>`` for an authenticated user, else ``anon:<address>`` (the core's key, the
        same as the middleware's and the FastAPI and Node integrations')."""
        if request.user and request.user.is_authenticated:
            return _USER_KEY.key("", str(request.user.pk))
        return _USER_KEY.key(self.get_ident(request))

    def _policy(self) -> str | None:
        return None

    def allow_request(self, request: Request, view: Any) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        name = f"drf.{self.scope or type(self).__name__}"
        self.decision = limiter(name, self.rate, self._policy()).check(key)
        record_decision(request._request, self.decision)
        return bool(self.decision)

    def wait(self) -> float | None:
        if self.decision is None or self.decision.allowed:
            return None
        return self.decision.retry_after


class AnonRateThrottle(SimpleRateThrottle):
    """Anonymous requests, by client address (scope ``anon``)."""

    scope = "anon"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if request.user and request.user.is_authenticated:
            return None
        return _IP_KEY.key(self.get_ident(request))


class UserRateThrottle(SimpleRateThrottle):
    """Authenticated users by id, others by address (scope ``user``)."""

    scope = "user"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.user_or_ident(request)


class ScopedRateThrottle(SimpleRateThrottle):
    """The view's ``throttle_scope``, by user id or address; views without one are not limited."""

    scope_attr = "throttle_scope"

    def __init__(self) -> None:
        # The rate depends on the view: read in allow_request.
        self.decision = None

    def _login_scope(self) -> bool:
        return any(part in (self.scope or "") for part in ("login", "auth", "token", "password"))

    def _policy(self) -> str | None:
        if self._login_scope():
            return bastion_setting("OUTAGE_POLICY")["LOGIN_RATELIMIT"]  # type: ignore[no-any-return]
        return None

    def _prepare(self, view: Any) -> bool:
        self.scope = getattr(view, self.scope_attr, None)
        if not self.scope:
            return False
        self.rate = self.get_rate()
        return True

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.user_or_ident(request)

    def allow_request(self, request: Request, view: Any) -> bool:
        if not self._prepare(view):
            return True
        return super().allow_request(request, view)


class QuotaThrottle(SimpleRateThrottle):
    """A stricter limit for anonymous clients than the users' quota, on one view scope.

    Rates: ``DEFAULT_THROTTLE_RATES["<throttle_scope>_anon"]`` by address and
    ``["<throttle_scope>_user"]`` by user id, e.g. reference deployment 1's identification
    endpoint: ``"identify_user": "10/hour" if DEBUG else "100/hour"``, ``"identify_anon": "5/hour"``.
    Views without a ``throttle_scope`` are not limited.
    """

    def __init__(self) -> None:
        self.decision = None

    def allow_request(self, request: Request, view: Any) -> bool:
        scope = getattr(view, "throttle_scope", None)
        if not scope:
            return True
        user = request.user if request.user and request.user.is_authenticated else None
        self.scope = f"{scope}_user" if user is not None else f"{scope}_anon"
        self.rate = self.get_rate()
        return super().allow_request(request, view)

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.user_or_ident(request)
