"""FastAPI and Starlette integration: rate limits, token authentication, login lockout, breaker and
cache helpers, and RFC 9457 problem+json answers. Async-native: every store call is awaited, the
password check runs off the event loop, and nothing blocks the loop, Redis included.

Set-up, once::

    from bastion import Lockout, Store, TokenService, Key
    from bastion.fastapi import Guard, RateLimit, RateLimitMiddleware, Rule, require_user

    store = Store(os.environ.get("BASTION_REDIS_URL"))         # memory when unset
    guard = Guard(store=store, tokens=TokenService(Key.hmac(SECRET), store=store),
                  lockout=Lockout(store, failure_limit=10, cooloff="1h"), trusted_proxies=1)
    app = FastAPI()
    guard.install(app)                                        # problem+json answers, app.state
    app.add_middleware(RateLimitMiddleware, guard=guard, rules=[Rule("100/minute", methods="read")])

    @app.get("/me", dependencies=[Depends(RateLimit("30/minute", key="user"))])
    async def me(claims: dict = Depends(require_user)): ...

See ``docs/fastapi.md``.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bastion import _http
from bastion import exceptions as exc
from bastion._http import problem
from bastion._native import (
    Decision,
    Lockout,
    RateLimiter,
    RequestKey,
    Store,
    TokenService,
    Verifier,
    client_ip,
    client_key,
    http_authorization_token,
    http_holds_role,
)
from bastion.breaker import CircuitBreaker
from bastion.cache import Cache

__all__ = [
    "Guard",
    "Problem",
    "RateLimit",
    "RateLimitMiddleware",
    "Rule",
    "current_claims",
    "observability_router",
    "problem",
    "require_role",
    "require_user",
]

T = TypeVar("T")

_NO_CLAIMS = object()


class Problem(HTTPException):
    """An HTTP error answered as ``application/problem+json`` (once :meth:`Guard.install` ran; before
    that, Starlette still answers with its status and headers):
    ``raise Problem(problem(401, "invalid username or password", code="INVALID_CREDENTIALS"))``."""

    def __init__(self, answer: _http.Answer) -> None:
        super().__init__(answer.status, answer.detail, headers=answer.headers)
        self.answer = answer

    @classmethod
    def of(cls, error: BaseException, *, lockout_status: int = 429) -> Problem | None:
        """The problem a bastion error maps to, or None."""
        answer = _http.answer_for(error, lockout_status=lockout_status)
        return None if answer is None else cls(answer)


def _conn(conn: Any) -> HTTPConnection:
    """``conn`` itself when it is a Starlette request (or WebSocket); TypeError otherwise."""
    if not isinstance(conn, HTTPConnection):
        raise TypeError(f"expected a Starlette Request, not {type(conn).__name__}")
    return conn


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    return value


def _response(answer: _http.Answer) -> Response:
    return Response(answer.body, status_code=answer.status, headers=answer.headers)


class Guard:
    """The configuration the dependencies and the middleware share; :meth:`install` puts it on the
    app (``app.state.bastion``) with the problem+json exception handlers.

    - ``tokens`` (a :class:`TokenService`: signature, claims and revocation) or ``verifier`` (a
      :class:`Verifier`: signature and claims only) checks access tokens, read from the
      ``Authorization`` header (``header_types``, ``Bearer`` by default) or from the ``cookie``
      named (when given; the header wins).
    - ``trusted_proxies`` / ``proxy_header`` / ``ipv6_prefix``: how the client address is found
      (:func:`bastion.client_key`); nothing is trusted by default.
    - ``lockout``: the :class:`Lockout` :meth:`login` applies; ``lockout_status`` 429 (default) or
      423.
    - ``store``: where the rate limits keep their state (memory by default).
    - ``user_claim`` / ``roles_claim``: where the user id and the roles are read from the claims.
    """

    def __init__(
        self,
        *,
        store: Store | None = None,
        tokens: TokenService | None = None,
        verifier: Verifier | None = None,
        header_types: Sequence[str] = ("Bearer",),
        cookie: str | None = None,
        trusted_proxies: int | str | Sequence[str] | None = None,
        proxy_header: str = "X-Forwarded-For",
        ipv6_prefix: int | None = None,
        lockout: Lockout | None = None,
        lockout_status: int = 429,
        user_claim: str = "sub",
        roles_claim: str = "roles",
    ) -> None:
        if tokens is not None and verifier is not None:
            raise exc.InvalidArgumentError("give tokens or verifier, not both")
        if lockout_status not in (423, 429) or isinstance(lockout_status, bool):
            raise exc.InvalidArgumentError("lockout_status must be 423 or 429")
        types = (header_types,) if isinstance(header_types, str) else tuple(header_types)
        if any(not isinstance(t, str) for t in types):
            raise exc.InvalidArgumentError("header_types must be non-empty words such as 'Bearer'")
        try:  # the core checks the types first (InvalidArgumentError), then finds "" malformed
            http_authorization_token("", list(types))
        except exc.DecodeError:
            pass
        self.store = store if store is not None else Store()
        self.tokens = tokens
        self.verifier = verifier
        self.header_types = list(types)
        self.cookie = cookie
        self.trusted_proxies = trusted_proxies
        self.proxy_header = proxy_header
        self.ipv6_prefix = ipv6_prefix
        self.lockout = lockout
        self.lockout_status = lockout_status
        self.user_claim = user_claim
        self.roles_claim = roles_claim
        # Checked now: a bad proxy setting fails at start-up, not on the first request.
        client_key(
            "127.0.0.1", {}, trusted_proxies=trusted_proxies, header=proxy_header, ipv6_prefix=ipv6_prefix
        )

    def __repr__(self) -> str:
        return f"Guard(store={self.store.kind!r}, tokens={self.tokens is not None}, cookie={self.cookie!r})"

    # ---- set-up ---------------------------------------------------------------------------------

    def install(self, app: Any) -> None:
        """Stores the guard on ``app.state.bastion`` and answers :class:`Problem` and bastion's own
        errors (token, rate limit, lockout, open circuit, unreachable store) as problem+json."""
        if not callable(getattr(app, "add_exception_handler", None)) or not hasattr(app, "state"):
            raise TypeError(f"expected a FastAPI or Starlette app, not {type(app).__name__}")
        app.state.bastion = self

        async def on_problem(_: Request, error: Exception) -> Response:
            assert isinstance(error, Problem)
            return _response(error.answer)

        async def on_bastion(_: Request, error: Exception) -> Response:
            answer = _http.answer_for(error, lockout_status=self.lockout_status)
            if answer is None:
                answer = _http.problem(500, "internal error", code="INTERNAL")
            return _response(answer)

        app.add_exception_handler(Problem, on_problem)
        app.add_exception_handler(exc.BastionError, on_bastion)

    @staticmethod
    def of(conn: HTTPConnection) -> Guard:
        """The guard installed on the request's app."""
        guard = getattr(getattr(_conn(conn).app, "state", None), "bastion", None)
        if not isinstance(guard, Guard):
            raise RuntimeError("no bastion Guard on this app: call guard.install(app) at start-up")
        return guard

    # ---- the client -----------------------------------------------------------------------------

    def client(self, conn: HTTPConnection) -> str:
        """The client's rate-limit key: its address behind the trusted proxies (IPv6 grouped)."""
        client = _conn(conn).client
        peer = client.host if client else "0.0.0.0"  # noqa: S104 - no peer: one shared key
        try:
            return client_key(
                peer,
                conn.headers.items(),
                trusted_proxies=self.trusted_proxies,
                header=self.proxy_header,
                ipv6_prefix=self.ipv6_prefix,
            )
        except exc.InvalidArgumentError:
            # A peer that is not an address (a test transport, a Unix socket): one shared key.
            return "unknown"

    def token(self, conn: HTTPConnection) -> str | None:
        """The access token the request carries: the ``Authorization`` header (one of
        ``header_types``), else the cookie; None when there is none. A malformed header is a 401."""
        header = _conn(conn).headers.get("authorization")
        if header is not None:
            try:
                value = http_authorization_token(header, self.header_types)
            except exc.DecodeError:
                value = None
            if value is None:  # malformed, or another scheme: this API takes these types only
                raise Problem(_http.unauthorized("malformed authorization header", "MALFORMED_TOKEN"))
            return value
        if self.cookie is not None:
            return conn.cookies.get(self.cookie) or None
        return None

    async def claims(self, conn: HTTPConnection) -> dict[str, Any] | None:
        """The verified claims of the request's access token (None without one; :class:`Problem`
        401 for a bad one). Verified once per request."""
        cached = _conn(conn).scope.get("bastion.claims", _NO_CLAIMS)
        if cached is not _NO_CLAIMS:
            return cached  # type: ignore[no-any-return]
        token = self.token(conn)
        claims: dict[str, Any] | None = None
        if token is not None:
            try:
                if self.tokens is not None:
                    claims = await self.tokens.averify(token)
                elif self.verifier is not None:
                    claims = self.verifier.decode(token)
                else:
                    raise RuntimeError("the Guard has neither tokens nor verifier to check tokens with")
            except exc.BastionError as e:
                problem = Problem.of(e, lockout_status=self.lockout_status)
                if problem is None:
                    raise
                raise problem from None
        conn.scope["bastion.claims"] = claims
        return claims

    def user_id(self, claims: dict[str, Any] | None) -> str | None:
        """The user id of verified claims (None when anonymous)."""
        if claims is None:
            return None
        if not isinstance(claims, dict):
            raise TypeError(f"claims must be a dict or None, not {type(claims).__name__}")
        user = claims.get(self.user_claim)
        return None if user is None else str(user)

    # ---- login and upstream helpers -------------------------------------------------------------

    async def login(
        self,
        request: HTTPConnection,
        username: str | None,
        password: str | bytes,
        stored_hash: str | None,
        *,
        hasher: Any = None,
    ) -> bool:
        """One login attempt under the lockout: the password check runs off the event loop (unknown
        users cost the same as wrong passwords), failures are counted per username and client
        address, a success resets the username's count. Returns whether the password matched;
        raises :class:`Problem` 429 (or 423) with ``Retry-After`` when locked out."""
        _conn(request)
        if self.lockout is None:
            raise RuntimeError("the Guard has no lockout: Guard(lockout=Lockout(...))")
        try:
            return await self.lockout.alogin(
                username,
                password,
                stored_hash,
                ip_address=self.client_ip(request),
                user_agent=request.headers.get("user-agent"),
                hasher=hasher,
            )
        except exc.AccountLockedError as e:
            raise Problem(_http.answer_for(e, lockout_status=self.lockout_status)) from None  # type: ignore[arg-type]

    def client_ip(self, conn: HTTPConnection) -> str | None:
        """The client's address behind the trusted proxies, for the lockout (None without a peer)."""
        client = _conn(conn).client
        peer = client.host if client else None
        if peer is None:
            return None
        try:
            return client_ip(
                peer, conn.headers.items(), trusted_proxies=self.trusted_proxies, header=self.proxy_header
            )
        except exc.InvalidArgumentError:
            return None

    async def upstream(
        self,
        fn: Callable[[], Awaitable[T]],
        *,
        breaker: CircuitBreaker | None = None,
        cache: Cache | None = None,
        key: str | None = None,
    ) -> T:
        """Calls ``fn`` through ``breaker`` (an open circuit answers 503 with ``Retry-After`` at once)
        and, with ``cache`` and ``key``, once for every concurrent caller of every process sharing
        the cache's store (a stale value is served while the circuit is open when the cache allows
        it)."""
        if not callable(fn):
            raise TypeError("fn must be a coroutine function")
        if breaker is not None and not isinstance(breaker, CircuitBreaker):
            raise TypeError(f"breaker must be a bastion CircuitBreaker, not {type(breaker).__name__}")
        if cache is not None and not isinstance(cache, Cache):
            raise TypeError(f"cache must be a bastion Cache, not {type(cache).__name__}")
        if key is not None:
            _text(key, "key")
        if cache is not None and key is None:
            raise exc.InvalidArgumentError("a cached upstream call needs a key")

        async def call() -> T:
            return await fn() if breaker is None else await breaker.acall(fn)

        try:
            if cache is not None and key is not None:
                return await cache.aget(key, call)  # type: ignore[no-any-return]
            return await call()
        except (exc.CircuitOpenError, exc.StoreUnavailableError) as e:
            raise Problem(_http.answer_for(e)) from None  # type: ignore[arg-type]


# ---- dependencies -------------------------------------------------------------------------------


async def current_claims(request: Request) -> dict[str, Any] | None:
    """Dependency: the verified claims of the request's token, or None when it carries none (a bad
    token is a 401)."""
    return await Guard.of(request).claims(request)


async def require_user(request: Request) -> dict[str, Any]:
    """Dependency: the verified claims; 401 when the request carries no token."""
    claims = await Guard.of(request).claims(request)
    if claims is None:
        raise Problem(_http.unauthorized("authentication required", "NOT_AUTHENTICATED", error=None))
    return claims


def require_role(*roles: str) -> Callable[[Request], Awaitable[dict[str, Any]]]:
    """Dependency factory: the verified claims when they hold one of ``roles`` (in the guard's
    ``roles_claim``, a list or a space-separated string); 401 without a token, 403 without the
    role."""
    if not roles or not all(isinstance(r, str) and r for r in roles):
        raise exc.InvalidArgumentError("require_role needs at least one role name")
    wanted = list(roles)

    async def dependency(request: Request) -> dict[str, Any]:
        claims = await require_user(request)
        if not http_holds_role(claims.get(Guard.of(request).roles_claim), wanted):
            raise Problem(_http.problem(403, "this needs another role", code="PERMISSION_DENIED"))
        return claims

    return dependency


def _parts(key: Any) -> tuple[Any, ...]:
    parts = tuple(key) if isinstance(key, (list, tuple)) else (key,)
    for p in parts:
        if not isinstance(p, str) and not callable(p):
            raise exc.InvalidArgumentError(
                "a key part is 'ip', 'user', 'route', 'global' or a function of the request"
            )
    return parts


class _Key:
    """How a limit keys a request: the core's composition (``RequestKey``, the same bytes as
    Node's), fed with what the request holds: the client, the user, the route and the values of
    the key functions (sync or async)."""

    __slots__ = ("functions", "key", "needs_client", "needs_route", "needs_user")

    def __init__(self, parts: tuple[Any, ...]) -> None:
        self.key = RequestKey([p if isinstance(p, str) else None for p in parts])
        self.functions = [p for p in parts if not isinstance(p, str)]
        self.needs_client = "ip" in parts or "user" in parts
        self.needs_user = "user" in parts
        self.needs_route = "route" in parts

    async def of(self, guard: Guard, conn: HTTPConnection) -> str:
        client = guard.client(conn) if self.needs_client else ""
        user = guard.user_id(await guard.claims(conn)) if self.needs_user else None
        method = route = ""
        if self.needs_route:
            method = conn.scope.get("method", "WS")
            route = getattr(conn.scope.get("route"), "path", None) or conn.url.path
        values = []
        for f in self.functions:
            v = f(conn)
            if inspect.isawaitable(v):
                v = await v
            if not isinstance(v, str):
                raise exc.InvalidArgumentError("a key function must return a non-empty string")
            values.append(v)
        return self.key.key(client, user, method, route, values)


def _default_name(prefix: str, rates: Sequence[str], parts: tuple[Any, ...]) -> str:
    """A stable limiter name for the same rates and key parts (functions by qualified name)."""
    spec = repr((list(rates), [p if isinstance(p, str) else getattr(p, "__qualname__", "fn") for p in parts]))
    return f"{prefix}-{hashlib.sha256(spec.encode()).hexdigest()[:10]}"


def _rates(rates: str | Sequence[str]) -> list[str]:
    out = [rates] if isinstance(rates, str) else list(rates)
    for r in out:
        _text(r, "a rate")
    return out


class RateLimit:
    """Dependency: ``Depends(RateLimit("10/minute", key="ip"))`` admits the request or answers 429
    with ``Retry-After`` and problem+json; admitted answers carry the rate-limit headers.

    ``rates``: one or more limits (``"10/minute"``, ``["5/15m", "20/day"]``), all or nothing.
    ``key``: ``"ip"`` (default; behind the guard's trusted proxies), ``"user"`` (the token's user,
    else the client address), ``"route"`` (method and path template), ``"global"``, a function of
    the request (sync or async), or a list of those combined. ``name`` keeps limiters apart in the
    store (derived from the rates and key by default); ``exempt``: a function of the verified claims
    (None when anonymous) returning True to skip the limit (staff). ``store`` overrides the
    guard's."""

    def __init__(
        self,
        rates: str | Sequence[str],
        *,
        key: Any = "ip",
        name: str | None = None,
        cost: int = 1,
        exempt: Callable[[dict[str, Any] | None], bool] | None = None,
        store: Store | None = None,
        outage_policy: str = "local",
    ) -> None:
        self.rates = _rates(rates)
        self.parts = _parts(key)
        self.key = _Key(self.parts)
        self.name = name or _default_name("dep", self.rates, self.parts)
        self.cost = cost
        self.exempt = exempt
        self._store = store
        self._outage_policy = outage_policy
        self._limiter: RateLimiter | None = None
        # Checked now: a bad rate fails at import, not on the first request.
        RateLimiter(self.rates, name=self.name, outage_policy=outage_policy)

    def __repr__(self) -> str:
        return f"RateLimit({self.rates!r}, name={self.name!r})"

    def limiter(self, guard: Guard) -> RateLimiter:
        if not isinstance(guard, Guard):
            raise TypeError(f"guard must be a Guard, not {type(guard).__name__}")
        if self._limiter is None:
            self._limiter = RateLimiter(
                self.rates,
                store=self._store if self._store is not None else guard.store,
                name=self.name,
                outage_policy=self._outage_policy,
            )
        return self._limiter

    async def __call__(self, request: Request, response: Response) -> Decision | None:
        if not isinstance(response, Response):
            raise TypeError(f"response must be a Starlette Response, not {type(response).__name__}")
        guard = Guard.of(request)
        if self.exempt is not None and self.exempt(await guard.claims(request)):
            return None
        decision = await self.limiter(guard).acheck(await self.key.of(guard, request), self.cost)
        if not decision.allowed:
            raise Problem(decision.problem())
        for k, v in decision.headers().items():
            response.headers[k] = v
        return decision


class Rule:
    """A middleware limit: ``rates`` for the requests whose path starts with ``prefix`` and whose
    method is in ``methods`` (``"read"``: GET/HEAD/OPTIONS, ``"write"``: POST/PUT/PATCH/DELETE,
    ``"any"``, or a list of methods), keyed by ``key`` (as :class:`RateLimit`'s). Every matching rule
    applies; the headers of the one with the least remaining are sent (unless a route's own
    :class:`RateLimit` has less left)."""

    def __init__(
        self,
        rates: str | Sequence[str],
        *,
        prefix: str = "/",
        methods: str | Iterable[str] = "any",
        key: Any = "ip",
        name: str | None = None,
        exempt: Callable[[dict[str, Any] | None], bool] | None = None,
    ) -> None:
        if not _text(prefix, "prefix").startswith("/"):
            raise exc.InvalidArgumentError("prefix must start with '/'")
        names = _http.methods(methods if isinstance(methods, str) else list(methods))
        self.methods: frozenset[str] | None = None if names is None else frozenset(names)
        self.prefix = prefix
        self.rates = _rates(rates)
        self.parts = _parts(key)
        self.key = _Key(self.parts)
        self.name = name or _default_name(
            "mw", self.rates, (prefix, *sorted(self.methods or ["*"]), *self.parts)
        )
        self.exempt = exempt
        RateLimiter(self.rates, name=self.name)

    def __repr__(self) -> str:
        return f"Rule({self.rates!r}, prefix={self.prefix!r}, name={self.name!r})"

    def matches(self, method: str, path: str) -> bool:
        _text(method, "method")
        _text(path, "path")
        return path.startswith(self.prefix) and (self.methods is None or method.upper() in self.methods)


class RateLimitMiddleware:
    """ASGI middleware applying :class:`Rule` limits before routing (global, per path prefix and
    method category, per user or client address): a denied request is answered 429 with
    ``Retry-After`` and problem+json without reaching the app; admitted answers carry the headers of
    the most restrictive rule. ``app.add_middleware(RateLimitMiddleware, guard=guard, rules=[...])``;
    ``outage_policy`` as :class:`bastion.RateLimiter`'s."""

    def __init__(
        self, app: ASGIApp, *, guard: Guard, rules: Sequence[Rule], outage_policy: str = "local"
    ) -> None:
        if not isinstance(guard, Guard):
            raise TypeError(f"guard must be a Guard, not {type(guard).__name__}")
        if isinstance(rules, (str, bytes)) or not all(isinstance(r, Rule) for r in rules):
            raise TypeError("rules must be a list of Rule")
        if not rules:
            raise exc.InvalidArgumentError("rules must not be empty")
        self.app = app
        self.guard = guard
        self.rules = [
            (rule, RateLimiter(rule.rates, store=guard.store, name=rule.name, outage_policy=outage_policy))
            for rule in rules
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not isinstance(scope, dict) or not isinstance(scope.get("type"), str):
            raise TypeError("scope must be an ASGI scope (a dict with a 'type')")
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        method, path = scope["method"], scope["path"]
        tightest: Decision | None = None
        try:
            for rule, limiter in self.rules:
                if not rule.matches(method, path):
                    continue
                if rule.exempt is not None and rule.exempt(await self.guard.claims(conn)):
                    continue
                decision = await limiter.acheck(await rule.key.of(self.guard, conn))
                if not decision.allowed:
                    await _response(decision.problem())(scope, receive, send)
                    return
                if tightest is None or decision.remaining < tightest.remaining:
                    tightest = decision
        except Problem as p:
            await _response(p.answer)(scope, receive, send)
            return
        if tightest is None:
            await self.app(scope, receive, send)
            return
        extra = [(k.lower().encode(), v.encode()) for k, v in tightest.headers().items()]
        names = {k for k, _ in extra}
        remaining = tightest.remaining

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                theirs = next((v for k, v in headers if k.lower() == b"x-ratelimit-remaining"), None)
                # A route's own limit (RateLimit) that is tighter keeps its headers.
                if theirs is None or not theirs.isdigit() or int(theirs) > remaining:
                    kept = [(k, v) for k, v in headers if k.lower() not in names]
                    message = {**message, "headers": kept + extra}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def observability_router(*, metrics_path: str = "/metrics", health_path: str = "/health") -> Any:
    """An ``APIRouter`` serving :func:`bastion.metrics` (the Prometheus text, content type
    ``text/plain; version=0.0.4``) and :func:`bastion.ahealth` (JSON, 200 when every store answers,
    503 otherwise): ``app.include_router(observability_router())``. The health pings run on the
    native runtime, never blocking the event loop. Both reveal operational detail: mount them where
    only the scraper and the orchestrator reach them, or give the router your own dependencies.
    """
    from fastapi import APIRouter
    from starlette.responses import JSONResponse

    from bastion.observability import CONTENT_TYPE, ahealth, metrics

    router = APIRouter()

    @router.get(metrics_path, include_in_schema=False)
    async def bastion_metrics() -> Response:
        return Response(metrics(), media_type=CONTENT_TYPE)

    @router.get(health_path, include_in_schema=False)
    async def bastion_health() -> Response:
        snapshot = await ahealth()
        return JSONResponse(snapshot, status_code=200 if snapshot["ok"] else 503)

    return router
