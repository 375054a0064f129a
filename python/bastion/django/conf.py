"""``settings.BASTION``: what it holds, its defaults, and the objects built from it once per process.

Every component (the store, the token service, the limiters, the lockout) is built on first use and
kept for the life of the process. A forked worker (gunicorn, uWSGI) builds its own on first use: the
cache is keyed by the process id, so a child never uses objects made by its parent. A change of the
settings that feed them (``override_settings`` in tests) drops them all.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

from bastion import Decision, ManualClock, RateLimiter, Store, client_ip, client_key
from bastion.exceptions import InvalidArgumentError

__all__ = [
    "DECISIONS_ATTR",
    "DEFAULTS",
    "OUTAGE_POLICIES",
    "bastion_setting",
    "cached",
    "get_clock",
    "get_store",
    "limiter",
    "now",
    "record_decision",
    "request_client_ip",
    "request_client_key",
    "reset",
    "seconds",
]

OUTAGE_POLICIES = ("local", "fail_open", "fail_closed")

DEFAULTS: dict[str, Any] = {
    # Where shared state lives: "memory://" (this process) or a Redis / Redis Cluster URL.
    "STORE": "memory://",
    # Store options: timeout (s, one operation), connect_timeout (s), max_keys (memory store).
    "STORE_OPTIONS": {},
    "KEY_PREFIX": "bastion:",
    # Proxies whose forwarding header is believed: addresses, CIDR ranges, "loopback", "private",
    # "linklocal", or a hop count. None: REMOTE_ADDR is the client.
    "TRUSTED_PROXIES": None,
    "CLIENT_IP_HEADER": "X-Forwarded-For",
    "IPV6_PREFIX": 64,
    # What each component does when Redis cannot answer.
    "OUTAGE_POLICY": {
        "RATELIMIT": "local",
        "LOGIN_RATELIMIT": "fail_closed",
        "LOCKOUT": "local",
        "TOKENS": "fail_closed",
    },
    # Rules of bastion.django.middleware.RateLimitMiddleware.
    "RATELIMIT_RULES": [],
    # Path prefixes whose rate limits protect logins (checked for fail-open policies).
    "LOGIN_PATHS": ["/api/token/", "/login", "/accounts/login", "/admin/login"],
    "THROTTLE_ALGORITHM": "sliding_window",
    # HTTP status of the lockout answer (django-axes' AXES_HTTP_RESPONSE_CODE when set).
    "LOCKOUT_STATUS": 429,
    # Cookie transport of the JWT views and JWTAuthentication; None: Authorization header only.
    "JWT_COOKIE": None,
    # Revoke every token of a user whose password changes.
    "REVOKE_TOKENS_ON_PASSWORD_CHANGE": True,
    # Worker processes serving this settings module, when the server is not detectable.
    "WORKERS": None,
    # A bastion.ManualClock driving every time-based rule (tests only).
    "CLOCK": None,
}

COOKIE_DEFAULTS: dict[str, Any] = {
    "ACCESS": "access_token",
    "REFRESH": "refresh_token",
    "DOMAIN": None,
    "PATH": "/",
    "REFRESH_PATH": "/",
    "SAMESITE": "Lax",
    # None: Secure outside DEBUG.
    "SECURE": None,
}

# Settings whose change drops every cached component.
WATCHED = {
    "BASTION",
    "SIMPLE_JWT",
    "REST_FRAMEWORK",
    "SECRET_KEY",
    "DEBUG",
    "AUTH_USER_MODEL",
    "AXES_FAILURE_LIMIT",
    "AXES_COOLOFF_TIME",
    "AXES_LOCKOUT_PARAMETERS",
    "AXES_RESET_ON_SUCCESS",
    "AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT",
    "AXES_HTTP_RESPONSE_CODE",
    "AXES_USERNAME_FORM_FIELD",
}

_lock = threading.RLock()
_pid: int | None = None
_objects: dict[str, Any] = {}

T = TypeVar("T")


def bastion_setting(name: str) -> Any:
    """``settings.BASTION[name]``, or its default. ``OUTAGE_POLICY`` merges over the defaults."""
    user = getattr(settings, "BASTION", None) or {}
    if not isinstance(user, Mapping):
        raise ImproperlyConfigured("settings.BASTION must be a dict")
    unknown = set(user) - set(DEFAULTS)
    if unknown:
        raise ImproperlyConfigured(f"settings.BASTION has unknown keys: {', '.join(sorted(unknown))}")
    if name == "OUTAGE_POLICY":
        merged = dict(DEFAULTS["OUTAGE_POLICY"])
        given = user.get("OUTAGE_POLICY") or {}
        extra = set(given) - set(merged)
        if extra:
            raise ImproperlyConfigured(
                f"BASTION['OUTAGE_POLICY'] has unknown keys: {', '.join(sorted(extra))}"
            )
        merged.update(given)
        for key, value in merged.items():
            if value not in OUTAGE_POLICIES:
                raise ImproperlyConfigured(
                    f"BASTION['OUTAGE_POLICY'][{key!r}] must be one of {', '.join(OUTAGE_POLICIES)}"
                )
        return merged
    if name == "JWT_COOKIE":
        cookie = user.get("JWT_COOKIE")
        if cookie is None or cookie is False:
            return None
        if cookie is True:
            cookie = {}
        extra = set(cookie) - set(COOKIE_DEFAULTS)
        if extra:
            raise ImproperlyConfigured(f"BASTION['JWT_COOKIE'] has unknown keys: {', '.join(sorted(extra))}")
        merged = {**COOKIE_DEFAULTS, **cookie}
        if merged["SAMESITE"] not in ("Lax", "Strict", "None"):
            raise ImproperlyConfigured("BASTION['JWT_COOKIE']['SAMESITE'] must be 'Lax', 'Strict' or 'None'")
        if merged["SECURE"] is None:
            merged["SECURE"] = not settings.DEBUG
        if merged["SAMESITE"] == "None" and not merged["SECURE"]:
            raise ImproperlyConfigured("SameSite=None cookies must be Secure")
        return merged
    return user.get(name, DEFAULTS[name])


def cached(name: str, build: Callable[[], T]) -> T:
    """The object ``name`` of this process, built by ``build`` on first use."""
    global _pid
    pid = os.getpid()
    obj = _objects.get(name) if _pid == pid else None
    if obj is not None:
        return obj  # type: ignore[no-any-return]
    with _lock:
        if _pid != pid:
            _objects.clear()
            _pid = pid
        obj = _objects.get(name)
        if obj is None:
            obj = build()
            _objects[name] = obj
        return obj  # type: ignore[no-any-return]


def reset() -> None:
    """Drops every component built from the settings (the next use builds them again)."""
    with _lock:
        _objects.clear()


@receiver(setting_changed)
def _on_setting_changed(*, setting: str, **_: Any) -> None:
    if setting in WATCHED:
        reset()


def get_clock() -> ManualClock | None:
    clock = bastion_setting("CLOCK")
    if clock is not None and not isinstance(clock, ManualClock):
        raise ImproperlyConfigured("BASTION['CLOCK'] must be a bastion.ManualClock or None")
    return clock  # type: ignore[no-any-return]


def now() -> float:
    """The current time of the rules: the test clock when one is set."""
    clock = get_clock()
    if clock is not None:
        return clock.now()
    import time

    return time.time()


def _build_store() -> Store:
    url = bastion_setting("STORE") or "memory://"
    options = dict(bastion_setting("STORE_OPTIONS") or {})
    unknown = set(options) - {"timeout", "connect_timeout", "max_keys"}
    if unknown:
        raise ImproperlyConfigured(f"BASTION['STORE_OPTIONS'] has unknown keys: {', '.join(sorted(unknown))}")
    try:
        return Store(url, prefix=bastion_setting("KEY_PREFIX"), clock=get_clock(), **options)
    except InvalidArgumentError as e:
        raise ImproperlyConfigured(f"BASTION['STORE']: {e}") from None


def get_store() -> Store:
    """The process's store, built from ``BASTION['STORE']`` on first use."""
    return cached("store", _build_store)


def seconds(value: Any, name: str, *, hours: bool = False) -> float:
    """A duration setting in seconds: a number (seconds, or hours with ``hours``) or a timedelta."""
    if isinstance(value, timedelta):
        secs = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        secs = float(value) * (3600 if hours else 1)
    else:
        raise ImproperlyConfigured(f"{name} must be a number or a timedelta")
    if secs <= 0:
        raise ImproperlyConfigured(f"{name} must be positive")
    return secs


def _peer_and_headers(request: Any) -> tuple[str, Any, dict[str, Any]]:
    meta = request.META
    options = {
        "trusted_proxies": bastion_setting("TRUSTED_PROXIES"),
        "header": bastion_setting("CLIENT_IP_HEADER"),
    }
    return meta.get("REMOTE_ADDR") or "", meta, options


def request_client_ip(request: Any) -> str:
    """The client address of a Django request, behind ``BASTION['TRUSTED_PROXIES']``."""
    peer, meta, options = _peer_and_headers(request)
    return client_ip(peer, meta, **options)


def request_client_key(request: Any) -> str:
    """The rate-limit key of the client address (IPv6 grouped by ``BASTION['IPV6_PREFIX']``)."""
    peer, meta, options = _peer_and_headers(request)
    return client_key(peer, meta, ipv6_prefix=bastion_setting("IPV6_PREFIX"), **options)


# ---- rate limiters (DRF throttles and the middleware) ----------------------------------------------

DECISIONS_ATTR = "_bastion_decisions"
EXACT_MAX = 10_000


def _algorithm(limiter_rate: str) -> str:
    chosen = bastion_setting("THROTTLE_ALGORITHM")
    if chosen != "sliding_window":
        return chosen  # type: ignore[no-any-return]
    count = limiter_rate.split("/", 1)[0].strip()
    return "sliding_counter" if count.isdigit() and int(count) > EXACT_MAX else "sliding_window"


def limiter(name: str, rate: str, outage_policy: str | None = None) -> RateLimiter:
    """The process's limiter ``name`` with ``rate`` (built once)."""
    policy = outage_policy or bastion_setting("OUTAGE_POLICY")["RATELIMIT"]

    def build() -> RateLimiter:
        try:
            return RateLimiter(
                rate, store=get_store(), name=name, algorithm=_algorithm(rate), outage_policy=policy
            )
        except InvalidArgumentError as e:
            raise ImproperlyConfigured(f"rate limit {name!r}: {e}") from None

    return cached(f"limiter:{name}:{rate}:{policy}", build)


def record_decision(request: Any, decision: Decision) -> None:
    """Keeps ``decision`` on the Django request for the response headers."""
    decisions = getattr(request, DECISIONS_ATTR, None)
    if decisions is None:
        decisions = []
        setattr(request, DECISIONS_ATTR, decisions)
    decisions.append(decision)
