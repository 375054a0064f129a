"""``RateLimitMiddleware``: rate limits by path prefix and method category, per user, per client
address or global, before any view runs (Django views and DRF views, sync and async).

Rules come from ``BASTION["RATELIMIT_RULES"]``, a list of dicts:

``name``
    The limit's name (its store keys and its ``RateLimit-Policy`` name). Required.
``rate``
    ``"10/minute"``, ``"5/15m"``, ``"100/minute;1000/hour"``... Required.
``paths``
    Path prefixes the rule covers (default: every path).
``methods``
    ``"read"`` (GET, HEAD, OPTIONS), ``"write"`` (POST, PUT, PATCH, DELETE), ``"all"`` (default;
    ``"any"`` is the same), or a list of methods.
``key``
    ``"user_or_ip"`` (default: ``user:<pk>`` when authenticated, else ``anon:<client address>``),
    ``"user"`` (authenticated requests only), ``"ip"`` (trusted-proxy aware) or ``"global"`` (one
    count for all). Keys are composed by the core, the same as the FastAPI and Node integrations'.
``exempt``
    ``["staff"]``, ``["superuser"]``: users the rule does not count.
``group``
    Within one group the first matching rule applies; every group applies (default group
    ``"default"``). Reference deployment 2's categories are one group: auth 10/min, writes 30/min,
    reads 100/min; a global limit sits in a group of its own.
``outage_policy``
    ``"local"``, ``"fail_open"`` or ``"fail_closed"`` when Redis cannot answer (default
    ``BASTION["OUTAGE_POLICY"]["RATELIMIT"]``, or ``["LOGIN_RATELIMIT"]`` for rules covering
    ``BASTION["LOGIN_PATHS"]``).

All applicable rules are decided all or nothing: when one denies, the units the others charged
are given back. A denied request gets 429 with ``Retry-After``, the ``RateLimit`` /
``RateLimit-Policy`` / ``X-RateLimit-*`` headers and an RFC 9457 ``application/problem+json``
body. An admitted response carries the headers of its tightest limit, including those decided by
the DRF throttles of :mod:`bastion.django.throttling`.

The user is ``request.user`` (session authentication), else the bearer or cookie JWT (verified once:
the DRF authentication class reuses the answer).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

from bastion import Decision, RateLimiter
from bastion._http import Answer, methods
from bastion._native import RequestKey
from bastion.exceptions import InvalidArgumentError

from .conf import DECISIONS_ATTR, bastion_setting, cached, limiter, record_decision, request_client_key

__all__ = ["HybridMiddleware", "RateLimitMiddleware", "Rule", "rules", "too_many_requests"]

log = logging.getLogger("bastion.django")

# A rule's key: the core's composition of these parts (``"user"`` also counts anonymous requests
# by client address; the middleware skips them for a ``"user"`` rule).
KEYS = {
    "user_or_ip": RequestKey(["user"]),
    "user": RequestKey(["user"]),
    "ip": RequestKey(["ip"]),
    "global": RequestKey(["global"]),
}
RULE_FIELDS = {"name", "rate", "paths", "methods", "key", "exempt", "group", "outage_policy"}


@dataclass(frozen=True)
class Rule:
    name: str
    rate: str
    paths: tuple[str, ...]
    methods: frozenset[str] | None
    key: str
    exempt: tuple[str, ...]
    group: str
    outage_policy: str

    def matches(self, path: str, method: str) -> bool:
        if self.methods is not None and method.upper() not in self.methods:
            return False
        return not self.paths or path.startswith(self.paths)

    @property
    def limiter(self) -> RateLimiter:
        return limiter(f"mw.{self.name}", self.rate, self.outage_policy)


def is_login_path(paths: Sequence[str]) -> bool:
    """Whether prefixes ``paths`` cover one of ``BASTION["LOGIN_PATHS"]`` (all paths do)."""
    login = tuple(bastion_setting("LOGIN_PATHS"))
    return not paths or any(p.startswith(tuple(paths)) or q.startswith(p) for p in login for q in paths)


def _rule(spec: Any) -> Rule:
    if not isinstance(spec, dict) or "name" not in spec or "rate" not in spec:
        raise ImproperlyConfigured("each BASTION['RATELIMIT_RULES'] entry is a dict with 'name' and 'rate'")
    unknown = set(spec) - RULE_FIELDS
    if unknown:
        raise ImproperlyConfigured(
            f"rate-limit rule {spec['name']!r}: unknown keys {', '.join(sorted(unknown))}"
        )
    try:
        names = methods(spec.get("methods", "all"))
    except (InvalidArgumentError, TypeError):
        raise ImproperlyConfigured(
            f"rate-limit rule {spec['name']!r}: methods is 'read', 'write', 'all' or a list of methods"
        ) from None
    method_set = None if names is None else frozenset(names)
    key = spec.get("key", "user_or_ip")
    if key not in KEYS:
        raise ImproperlyConfigured(f"rate-limit rule {spec['name']!r}: key is one of {', '.join(KEYS)}")
    exempt = tuple(spec.get("exempt", ()))
    if set(exempt) - {"staff", "superuser"}:
        raise ImproperlyConfigured(f"rate-limit rule {spec['name']!r}: exempt holds 'staff' or 'superuser'")
    paths = tuple(spec.get("paths", ()))
    policies = bastion_setting("OUTAGE_POLICY")
    default_policy = policies["LOGIN_RATELIMIT"] if is_login_path(paths) and paths else policies["RATELIMIT"]
    rule = Rule(
        name=str(spec["name"]),
        rate=str(spec["rate"]),
        paths=paths,
        methods=method_set,
        key=key,
        exempt=exempt,
        group=str(spec.get("group", "default")),
        outage_policy=spec.get("outage_policy", default_policy),
    )
    rule.limiter  # noqa: B018 - a bad rate or policy fails at start-up, not on a request
    return rule


def rules() -> list[Rule]:
    """The configured rules, parsed once per process."""
    return cached("ratelimit_rules", lambda: [_rule(s) for s in bastion_setting("RATELIMIT_RULES")])


def _applicable(path: str, method: str) -> list[Rule]:
    chosen: dict[str, Rule] = {}
    for rule in rules():
        if rule.group not in chosen and rule.matches(path, method):
            chosen[rule.group] = rule
    return list(chosen.values())


def _jwt_user(request: HttpRequest) -> Any:
    try:
        from rest_framework.exceptions import APIException

        from .authentication import authenticate_jwt
    except ImportError:  # no DRF: session users only
        return None

    try:
        found = authenticate_jwt(request)
    except APIException:
        return None  # the view's authentication answers the error
    return found[0] if found else None


def _user(request: HttpRequest) -> Any:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user
    return _jwt_user(request)


def _key(rule: Rule, request: HttpRequest, user: Any) -> str | None:
    """The key ``rule`` counts this request under, or None when it does not count it."""
    if user is not None and (
        ("staff" in rule.exempt and user.is_staff) or ("superuser" in rule.exempt and user.is_superuser)
    ):
        return None
    if rule.key == "user" and user is None:
        return None
    client = request_client_key(request) if rule.key in ("ip", "user_or_ip") else ""
    return KEYS[rule.key].key(client, None if user is None else str(user.pk))


def too_many_requests(decision: Decision) -> HttpResponse:
    """429 with ``Retry-After``, the rate-limit headers and an RFC 9457 problem body naming the
    violated policy (the core's answer, the same as FastAPI's and Node's)."""
    log.info(
        "[RATELIMIT] %s denied (%s), retry after %s s",
        decision.policy,
        decision.rate,
        decision.retry_after_header(),
    )
    return django_response(decision.problem())


def django_response(answer: Answer) -> HttpResponse:
    """A Django response of an answer of :mod:`bastion._http` (problem+json, its headers)."""
    response = HttpResponse(answer.body, status=answer.status, content_type=answer.headers["Content-Type"])
    for name, value in answer.headers.items():
        if name != "Content-Type":
            response[name] = value
    return response


def add_headers(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """The headers of the request's tightest decision (middleware rules and DRF throttles)."""
    decisions: list[Decision] = getattr(request, DECISIONS_ATTR, None) or []
    if decisions and "RateLimit" not in response:
        tightest = min(decisions, key=lambda d: (d.allowed, d.remaining / max(d.limit, 1)))
        for name, value in tightest.headers().items():
            if name != "Retry-After" or response.status_code == 429:
                response[name] = value
    return response


class HybridMiddleware:
    """A middleware that runs sync under WSGI and async under ASGI (``__call__`` dispatches)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)


class RateLimitMiddleware(HybridMiddleware):
    """Rate limits from ``BASTION["RATELIMIT_RULES"]``, and the rate-limit response headers.

    Place it after ``AuthenticationMiddleware`` (for session users). Sync and async."""

    def _decide(self, request: HttpRequest, applicable: list[Rule], user: Any) -> HttpResponse | None:
        charged: list[tuple[Rule, str]] = []
        for rule in applicable:
            key = _key(rule, request, user)
            if key is None:
                continue
            decision = rule.limiter.check(key)
            if not decision:
                for done, done_key in charged:
                    done.limiter.refund(done_key)
                return too_many_requests(decision)
            charged.append((rule, key))
            record_decision(request, decision)
        return None

    async def _adecide(self, request: HttpRequest, applicable: list[Rule], user: Any) -> HttpResponse | None:
        charged: list[tuple[Rule, str]] = []
        for rule in applicable:
            key = _key(rule, request, user)
            if key is None:
                continue
            decision = await rule.limiter.acheck(key)
            if not decision:
                for done, done_key in charged:
                    await done.limiter.arefund(done_key)
                return too_many_requests(decision)
            charged.append((rule, key))
            record_decision(request, decision)
        return None

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        applicable = _applicable(request.path_info, request.method or "GET")
        if applicable:
            user = _user(request) if any(r.key != "global" or r.exempt for r in applicable) else None
            denied = self._decide(request, applicable, user)
            if denied is not None:
                return denied
        return add_headers(request, self.get_response(request))

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        applicable = _applicable(request.path_info, request.method or "GET")
        if applicable:
            user = None
            if any(r.key != "global" or r.exempt for r in applicable):
                auser = getattr(request, "auser", None)
                user = await auser() if auser is not None else None
                if user is None or not user.is_authenticated:
                    user = await sync_to_async(_jwt_user)(request)
            denied = await self._adecide(request, applicable, user)
            if denied is not None:
                return denied
        response = await self.get_response(request)  # type: ignore[misc]
        return add_headers(request, response)
