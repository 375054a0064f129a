"""System checks of ``bastion.django`` (``manage.py check``, ``manage.py check --deploy``).

=================  =========  ==========================================================
id                 when       what
=================  =========  ==========================================================
``bastion.E001``   always     a setting of bastion, SIMPLE_JWT or AXES_* cannot be used
``bastion.E002``   always     the JWT signing key is SECRET_KEY outside DEBUG
                              (``bastion.W002`` in DEBUG: development fallback)
``bastion.E003``   deploy     SECRET_KEY is weak, a placeholder or Django's insecure default
``bastion.E004``   deploy     the HMAC JWT signing key is weak or a placeholder
``bastion.W005``   always     the memory store while several worker processes serve the app
``bastion.W006``   always     a login rate limit or the lockout fails open when Redis is down
``bastion.W007``   always     ``AXES_COOLOFF_TIME = None``: no permanent lock, 1 hour is used
=================  =========  ==========================================================
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import sys
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from bastion import check_signing_key_separate, validate_secret
from bastion.exceptions import BastionError, WeakSecretError

from .conf import bastion_setting, get_store

__all__ = ["check_config", "check_login_fail_open", "check_memory_store_workers", "check_secrets", "workers"]

HMAC = ("HS256", "HS384", "HS512")

Check = Callable[..., list[Any]]


def _tolerant(check: Check) -> Check:
    """A check that cannot read its settings reports nothing: ``bastion.E001`` names the problem."""

    @functools.wraps(check)
    def run(app_configs: Any = None, **kwargs: Any) -> list[Any]:
        try:
            return check(app_configs, **kwargs)
        except ImproperlyConfigured:
            return []

    return run


def _uses_jwt() -> bool:
    return hasattr(settings, "SIMPLE_JWT") or "bastion.django.authentication.JWTAuthentication" in str(
        getattr(settings, "REST_FRAMEWORK", {}).get("DEFAULT_AUTHENTICATION_CLASSES", ())
    )


@register(Tags.security)
def check_config(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """Builds every configured component once, so a bad setting fails ``check``, not a request."""
    from .lockout import get_lockout, lockout_enabled
    from .middleware import rules
    from .tokens import token_service

    errors: list[Any] = []
    builders = [("BASTION['STORE']", get_store), ("BASTION['RATELIMIT_RULES']", rules)]
    if _uses_jwt():
        builders.append(("SIMPLE_JWT", token_service))
    if lockout_enabled():
        builders.append(("AXES_* lockout settings", get_lockout))
        builders.append(("the lockout answer's status (AXES_HTTP_RESPONSE_CODE)", _lockout_answer))
    for what, build in builders:
        try:
            build()
        except (ImproperlyConfigured, BastionError, TypeError, ValueError) as e:
            errors.append(Error(f"{what} cannot be used: {e}", id="bastion.E001"))
    return errors


def _lockout_answer() -> Any:
    """The answer a locked attempt gets: its status must be a 4xx (429, 423, 403...)."""
    from bastion._native import http_answer_for

    from .lockout import lockout_status

    return http_answer_for("ACCOUNT_LOCKED", 1.0, lockout_status())


def _jwt_signing_key() -> tuple[str, Any] | None:
    jwt = getattr(settings, "SIMPLE_JWT", None) or {}
    algorithm = jwt.get("ALGORITHM", "HS256")
    if algorithm not in HMAC:
        return None
    return algorithm, jwt.get("SIGNING_KEY") or settings.SECRET_KEY


@register(Tags.security)
@_tolerant
def check_secrets(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """The JWT signing key must not be ``SECRET_KEY`` in production (reference deployment 1)."""
    found = _jwt_signing_key() if _uses_jwt() else None
    if found is None or not settings.SECRET_KEY:
        return []
    _, key = found
    try:
        separate = check_signing_key_separate(key, settings.SECRET_KEY, production=not settings.DEBUG)
    except WeakSecretError:
        return [
            Error(
                "The JWT signing key is SECRET_KEY.",
                hint="Set SIMPLE_JWT['SIGNING_KEY'] to its own random value (at least 50 characters).",
                id="bastion.E002",
            )
        ]
    if not separate:
        return [
            Warning(
                "The JWT signing key falls back to SECRET_KEY (allowed in DEBUG only).",
                hint="Set SIMPLE_JWT['SIGNING_KEY'] before deploying.",
                id="bastion.W002",
            )
        ]
    return []


@register(Tags.security, deploy=True)
@_tolerant
def check_deploy_secrets(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """``SECRET_KEY`` and the HMAC JWT key pass :func:`bastion.validate_secret`."""
    errors: list[Any] = []
    try:
        validate_secret(settings.SECRET_KEY or "", "django")
    except (WeakSecretError, BastionError) as e:
        errors.append(
            Error(
                f"SECRET_KEY is not fit for production: {e}",
                hint="Generate one with django.core.management.utils.get_random_secret_key().",
                id="bastion.E003",
            )
        )
    found = _jwt_signing_key() if _uses_jwt() else None
    if found is not None:
        algorithm, key = found
        try:
            validate_secret(key or "", algorithm)
        except (WeakSecretError, BastionError) as e:
            errors.append(
                Error(
                    f"The JWT signing key is not fit for production: {e}",
                    hint="Use 64 random bytes, e.g. secrets.token_urlsafe(64).",
                    id="bastion.E004",
                )
            )
    return errors


_WORKER_FLAG = re.compile(r"^(?:-w|--workers|--processes|-p)(?:=(\d+))?$")


def _workers_in(argv: list[str]) -> int | None:
    for i, arg in enumerate(argv):
        m = _WORKER_FLAG.match(arg)
        if not m:
            continue
        value = m.group(1) or (argv[i + 1] if i + 1 < len(argv) else "")
        if value.isdigit():
            return int(value)
    return None


def workers() -> int | None:
    """Worker processes serving this app, when known: ``BASTION["WORKERS"]``, uWSGI's
    ``numproc``, gunicorn's ``--workers`` (command line or ``GUNICORN_CMD_ARGS``), or
    ``WEB_CONCURRENCY``."""
    explicit = bastion_setting("WORKERS")
    if explicit is not None:
        return int(explicit)
    uwsgi = sys.modules.get("uwsgi")
    if uwsgi is not None and hasattr(uwsgi, "numproc"):
        return int(uwsgi.numproc)
    for argv in (sys.argv, shlex.split(os.environ.get("GUNICORN_CMD_ARGS", ""))):
        found = _workers_in(list(argv))
        if found is not None:
            return found
    concurrency = os.environ.get("WEB_CONCURRENCY", "")
    return int(concurrency) if concurrency.isdigit() else None


@register(Tags.security)
@_tolerant
def check_memory_store_workers(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """Limits and lockouts on the memory store are per process: N workers allow N times the rate."""
    url = str(bastion_setting("STORE") or "memory://")
    count = workers()
    if url.startswith("memory") and count is not None and count > 1:
        return [
            Warning(
                f"BASTION['STORE'] is the memory store while {count} worker processes serve the app: "
                "each keeps its own rate limits, lockouts and revocations.",
                hint="Point BASTION['STORE'] at Redis (redis://...) shared by every worker.",
                id="bastion.W005",
            )
        ]
    return []


@register(Tags.security)
@_tolerant
def check_login_fail_open(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """A login limit that fails open gives an attacker who can stop Redis unlimited guesses."""
    from .lockout import lockout_enabled
    from .middleware import is_login_path

    found: list[str] = []
    policies = bastion_setting("OUTAGE_POLICY")
    if policies["LOGIN_RATELIMIT"] == "fail_open":
        found.append("BASTION['OUTAGE_POLICY']['LOGIN_RATELIMIT']")
    if lockout_enabled() and policies["LOCKOUT"] == "fail_open":
        found.append("BASTION['OUTAGE_POLICY']['LOCKOUT']")
    for spec in bastion_setting("RATELIMIT_RULES") or ():
        if isinstance(spec, dict) and spec.get("outage_policy") == "fail_open":
            if is_login_path(tuple(spec.get("paths", ()))):
                found.append(f"the rate-limit rule {spec.get('name')!r}")
    return [
        Warning(
            f"{what} lets logins through unlimited while the store is unreachable.",
            hint="Use 'fail_closed' or 'local' for login limits.",
            id="bastion.W006",
        )
        for what in found
    ]


@register(Tags.security)
@_tolerant
def check_axes_cooloff(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    from .lockout import lockout_enabled

    if lockout_enabled() and hasattr(settings, "AXES_COOLOFF_TIME") and settings.AXES_COOLOFF_TIME is None:
        return [
            Warning(
                "AXES_COOLOFF_TIME = None locks forever under django-axes; bastion never locks forever "
                "and uses 1 hour.",
                hint="Set AXES_COOLOFF_TIME to the cool-off you want (hours, or a timedelta).",
                id="bastion.W007",
            )
        ]
    return []
