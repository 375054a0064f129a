"""Hostile input across the pure-Python wrapper layers gives typed errors, never a crash or a hang.

``test_hostile_input.py`` drives the native module; this suite drives what is written in Python on
top of it: the PyJWT-compatible :mod:`bastion.jwt`, the drop-ins under :mod:`bastion.compat`,
:mod:`bastion.observability`, and (in their own section below) the framework glue
:mod:`bastion.fastapi` and :mod:`bastion._http`.

The public names of each module are enumerated at run time from its ``__all__``: every function,
every class's constructor, its public methods (static and class methods included), ``__call__``
and its property setters. Names that are the native module's own objects (re-exported) and
exception classes are left to the native suite. Each callable is called with valid arguments
(from the tables below), then once per parameter and hostile value with that one argument
replaced: wrong types, megabytes of text, non-UTF-8 bytes, NUL bytes, lone surrogates, deeply
nested containers and JSON text, NaN, infinities, negative numbers and 2**64.

Every outcome must be a return value or a typed exception, as in the native suite: ``TypeError``,
``OverflowError``, a ``ValueError``, or a ``bastion.exceptions`` class. Its message stays short
(never the megabytes it was given). A callable without a way to build its arguments fails the
suite, so a new public name cannot go untested.
"""

from __future__ import annotations

import inspect
import json
import logging
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import bastion._http as http_mod
import bastion.compat.pybreaker as pybreaker_mod
import bastion.compat.redis_lock as redis_lock_mod
import bastion.fastapi as fastapi_mod
import bastion.jwt as jwt_mod
import bastion.observability as observability_mod
import pytest
from bastion import _native as native
from bastion import exceptions as exc
from conftest import HMAC_SECRET
from hostile_values import HOSTILE as BASE_HOSTILE
from hostile_values import call_in_loop, run_guarded, typed

# The longest error message accepted (bytes, UTF-8): enough for any explanation, far less than
# the megabytes some cases pass.
MAX_MESSAGE = 512


HOSTILE: dict[str, Any] = {**BASE_HOSTILE, "deep-json": "[" * 100_000}

# ---- valid arguments -------------------------------------------------------------------

JWK = {"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMy", "kid": "kid"}
TOKEN = jwt_mod.encode({"sub": "u", "exp": 1_900_000_000}, HMAC_SECRET, "HS256")
JWKS_URL = "http://127.0.0.1:9/jwks.json"  # nothing listens: fetches fail fast, typed
DEAD_REDIS = "redis://127.0.0.1:1/0"


def store() -> Any:
    return native.Store()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


async def async_one() -> int:
    return 1


# How to make an instance of each class, for its methods (by qualified name).
INSTANCES: dict[str, Callable[[], Any]] = {
    "bastion.jwt.PyJWK": lambda: jwt_mod.PyJWK(JWK),
    "bastion.jwt.PyJWKSet": lambda: jwt_mod.PyJWKSet([JWK]),
    "bastion.jwt.PyJWKClient": lambda: jwt_mod.PyJWKClient(JWKS_URL, allow_http=True, timeout=1),
    "bastion.jwt.PyJWT": jwt_mod.PyJWT,
    "bastion.compat.pybreaker.CircuitBreaker": lambda: pybreaker_mod.CircuitBreaker(name=unique("hostile")),
    "bastion.compat.pybreaker.CircuitBreakerListener": pybreaker_mod.CircuitBreakerListener,
    "bastion.compat.pybreaker.CircuitBreakerState": lambda: pybreaker_mod.CircuitBreakerState("closed"),
    "bastion.compat.pybreaker.CircuitMemoryStorage": pybreaker_mod.CircuitMemoryStorage,
    "bastion.compat.pybreaker.CircuitRedisStorage": lambda: pybreaker_mod.CircuitRedisStorage(
        "closed", DEAD_REDIS
    ),
    # A lease of its own name per case; an expiry, so no renewal thread outlives the case.
    "bastion.compat.redis_lock.Lock": lambda: redis_lock_mod.Lock(store(), unique("lock"), expire=10),
}

# Valid values of required parameters, by name (then by callable, where a name means two things).
BY_NAME: dict[str, Callable[[], Any]] = {
    "jwk_data": lambda: dict(JWK),
    "keys": lambda: [dict(JWK)],
    "uri": lambda: JWKS_URL,
    "kid": lambda: "kid",
    "token": lambda: TOKEN,
    "jwt": lambda: TOKEN,
    "signing_keys": lambda: [jwt_mod.PyJWK(JWK)],
    "payload": lambda: {"sub": "u"},
    "key": lambda: HMAC_SECRET,
    "redis_client": store,
    "name": lambda: unique("n"),
    "state": lambda: "closed",
    "redis_object": lambda: DEAD_REDIS,
    "exception": lambda: KeyError,
    "exceptions": lambda: [KeyError],
    "listener": pybreaker_mod.CircuitBreakerListener,
    "listeners": lambda: [pybreaker_mod.CircuitBreakerListener()],
    "func": lambda: lambda: 1,
    "cb": lambda: pybreaker_mod.CircuitBreaker(name=unique("cb")),
    "old_state": lambda: pybreaker_mod.CircuitBreakerState("closed"),
    "new_state": lambda: pybreaker_mod.CircuitBreakerState("open"),
    "exc": lambda: ValueError("x"),
    "value": lambda: 5,
    "call_args": lambda: [lambda: 1],
    "args": lambda: [],
}
BY_CALLABLE: dict[tuple[str, str], Callable[[], Any]] = {
    ("bastion.jwt.PyJWK.from_dict", "obj"): lambda: dict(JWK),
    ("bastion.jwt.PyJWK.from_json", "data"): lambda: json.dumps(JWK),
    ("bastion.jwt.PyJWKSet.from_dict", "obj"): lambda: {"keys": [dict(JWK)]},
    ("bastion.jwt.PyJWKSet.from_json", "data"): lambda: json.dumps({"keys": [JWK]}),
    ("bastion.compat.pybreaker.CircuitBreaker.call_async", "func"): lambda: async_one,
    ("bastion.compat.pybreaker.CircuitBreaker.name=", "value"): lambda: unique("renamed"),
    ("bastion.compat.pybreaker.CircuitBreaker.remove_excluded_exception", "exception"): lambda: KeyError,
    ("bastion.compat.pybreaker.CircuitBreaker.is_system_error", "exception"): lambda: KeyError("k"),
}
# Valid optional arguments given with the required ones (so a case reaches past the defaults).
EXTRA: dict[str, Callable[[], dict[str, Any]]] = {
    "bastion.jwt.decode": lambda: {"key": HMAC_SECRET, "algorithms": ["HS256"]},
    "bastion.jwt.decode_complete": lambda: {"key": HMAC_SECRET, "algorithms": ["HS256"]},
    "bastion.jwt.PyJWT.decode": lambda: {"key": HMAC_SECRET, "algorithms": ["HS256"]},
    "bastion.jwt.PyJWT.decode_complete": lambda: {"key": HMAC_SECRET, "algorithms": ["HS256"]},
    "bastion.jwt.PyJWKClient": lambda: {"allow_http": True, "timeout": 1},
    "bastion.compat.redis_lock.Lock": lambda: {"expire": 10},
    "bastion.compat.redis_lock.Lock.extend": lambda: {"expire": 10},
}

# Callables not driven with hostile arguments, and why. Everything else must have a case.
EXEMPT: dict[str, str] = {
    "bastion.observability.log_events": "registers a process-wide listener: driven in a child process below",
}


# ---- the surface -----------------------------------------------------------------------


class Callable_:
    """One public callable: how to reach it and its signature."""

    def __init__(self, name: str, owner: type | None, attr: str, kind: str, sig: inspect.Signature) -> None:
        self.name = name
        self.owner = owner
        self.attr = attr
        self.kind = kind  # "function", "class", "method", "static", "setter"
        self.sig = sig

    def params(self) -> tuple[list[inspect.Parameter], list[inspect.Parameter]]:
        """(required, optional) parameters; ``*args`` counts as required, ``**kwargs`` is left out."""
        required, optional = [], []
        for p in self.sig.parameters.values():
            if p.name in ("self", "cls") or p.kind is p.VAR_KEYWORD:
                continue
            if p.kind is p.VAR_POSITIONAL or p.default is p.empty:
                required.append(p)
            else:
                optional.append(p)
        return required, optional


def _is_native(obj: Any) -> bool:
    return getattr(obj, "__module__", "") == "bastion._native"


def surface(module: ModuleType) -> dict[str, Callable_]:
    """Every public callable of ``module`` (its ``__all__``)."""
    out: dict[str, Callable_] = {}
    for name in module.__all__:
        obj = getattr(module, name)
        qual = f"{module.__name__}.{name}"
        if not callable(obj) or _is_native(obj):
            continue
        if inspect.isclass(obj):
            if issubclass(obj, BaseException):
                continue
            out[qual] = Callable_(qual, obj, "__init__", "class", inspect.signature(obj))
            for klass in reversed(obj.__mro__):
                if not klass.__module__.startswith("bastion") or _is_native(klass):
                    continue
                for attr, value in vars(klass).items():
                    if attr.startswith("_") and attr != "__call__":
                        continue
                    key = f"{qual}.{attr}"
                    if isinstance(value, staticmethod | classmethod):
                        out[key] = Callable_(key, obj, attr, "static", inspect.signature(getattr(obj, attr)))
                    elif isinstance(value, property):
                        if value.fset is not None:
                            sig = inspect.signature(value.fset)
                            out[key + "="] = Callable_(key + "=", obj, attr, "setter", sig)
                    elif inspect.isfunction(value):
                        out[key] = Callable_(key, obj, attr, "method", inspect.signature(value))
        else:
            out[qual] = Callable_(qual, None, name, "function", inspect.signature(obj))
    return out


def valid(c: Callable_, param: str) -> Any:
    if (c.name, param) in BY_CALLABLE:
        return BY_CALLABLE[(c.name, param)]()
    return BY_NAME[param]()


def owner_name(c: Callable_) -> str:
    assert c.owner is not None
    return f"{c.owner.__module__}.{c.owner.__name__}"


def instance(c: Callable_) -> Any:
    return INSTANCES[owner_name(c)]()


def target(c: Callable_, module: ModuleType) -> Callable[..., Any]:
    if c.kind == "function":
        return getattr(module, c.attr)  # type: ignore[no-any-return]
    if c.kind == "class":
        return c.owner  # type: ignore[return-value]
    if c.kind == "static":
        return getattr(c.owner, c.attr)  # type: ignore[no-any-return]
    obj = instance(c)
    if c.kind == "setter":
        return lambda value: setattr(obj, c.attr, value)
    return getattr(obj, c.attr)  # type: ignore[no-any-return]


def call(c: Callable_, module: ModuleType, replace: tuple[str, Any] | None = None) -> Any:
    fn = target(c, module)
    required, _ = c.params()
    values: dict[str, Any] = {p.name: valid(c, p.name) for p in required}
    values.update(EXTRA.get(c.name, dict)())
    if replace is not None:
        values[replace[0]] = replace[1]
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for p in c.sig.parameters.values():
        if p.name not in values:
            continue
        v = values.pop(p.name)
        if p.kind is p.VAR_POSITIONAL:
            args.extend(v if replace is None or replace[0] != p.name else [v])
        elif p.kind is p.POSITIONAL_ONLY:
            args.append(v)
        else:
            kwargs[p.name] = v

    return call_in_loop(fn, args, kwargs)


def message_bytes(e: BaseException) -> int:
    return len(str(e).encode("utf-8", "surrogatepass"))


def check(label: str, outcome: BaseException | None) -> None:
    if outcome is None:
        return
    assert typed(outcome), (
        f"{label}: {type(outcome).__module__}.{type(outcome).__name__}: {str(outcome)[:200]}"
    )
    # Errors never echo megabytes back.
    assert message_bytes(outcome) <= MAX_MESSAGE, f"{label}: a {message_bytes(outcome)}-byte message"


def missing_cases(cases: dict[str, tuple[ModuleType, Callable_]]) -> list[str]:
    missing = []
    for name, (_, c) in cases.items():
        if c.kind in ("method", "setter") and owner_name(c) not in INSTANCES:
            missing.append(f"{name}: no INSTANCES factory for {owner_name(c)}")
        for p in c.params()[0]:
            if (name, p.name) not in BY_CALLABLE and p.name not in BY_NAME:
                missing.append(f"{name}: no valid value for {p.name!r}")
    return missing


def hostile_params(cases: dict[str, tuple[ModuleType, Callable_]], known: dict[str, str]) -> Iterator[Any]:
    for name, (_, c) in cases.items():
        required, optional = c.params()
        for p in required + optional:
            for label in HOSTILE:
                case_id = f"{name}-{p.name}-{label}"
                reason = known.get(case_id) or known.get(f"{name}-{p.name}")
                marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
                yield pytest.param(name, p.name, label, id=case_id, marks=marks)


# ---- the wrappers ----------------------------------------------------------------------

WRAPPERS = [jwt_mod, pybreaker_mod, redis_lock_mod, observability_mod]
CASES: dict[str, tuple[ModuleType, Callable_]] = {
    name: (m, c) for m in WRAPPERS for name, c in surface(m).items() if name not in EXEMPT
}


def test_every_public_wrapper_callable_has_a_case() -> None:
    missing = missing_cases(CASES)
    assert not missing, "public callables without a hostile-input case:\n" + "\n".join(missing)
    # The surface is really enumerated (a broken enumeration would pass everything vacuously).
    for expected in (
        "bastion.jwt.decode",
        "bastion.jwt.PyJWKClient.get_signing_key",
        "bastion.jwt.PyJWK.from_json",
        "bastion.compat.pybreaker.CircuitBreaker.call",
        "bastion.compat.pybreaker.CircuitBreaker.fail_max=",
        "bastion.compat.redis_lock.Lock.acquire",
    ):
        assert expected in CASES, expected
    assert len(CASES) > 40, len(CASES)
    # A new drop-in under bastion.compat is driven too, or this fails.
    import pkgutil

    import bastion.compat

    compat = {f"bastion.compat.{m.name}" for m in pkgutil.iter_modules(bastion.compat.__path__)}
    assert compat <= {m.__name__ for m in WRAPPERS}, compat


@pytest.mark.parametrize("name", sorted(CASES))
def test_valid_arguments_are_accepted_or_refused_typed(name: str) -> None:
    module, c = CASES[name]
    check(name, run_guarded(lambda: call(c, module)))


@pytest.mark.parametrize(("name", "param", "label"), list(hostile_params(CASES, {})))
def test_hostile_argument_gives_a_typed_error(name: str, param: str, label: str) -> None:
    module, c = CASES[name]
    check(f"{name}({param}={label})", run_guarded(lambda: call(c, module, (param, HOSTILE[label]))))


def _raise_key_error() -> None:
    raise KeyError("k")


@pytest.mark.parametrize("label", list(HOSTILE))
def test_pybreaker_settings_are_refused_when_given_not_on_a_later_call(label: str) -> None:
    # A rule or listener the breaker keeps is used on every later call: a hostile one must be
    # refused (typed) when it is given, and a call made afterwards still behaves.
    value = HOSTILE[label]
    cb = pybreaker_mod.CircuitBreaker(name=unique("later"))
    for add in (cb.add_excluded_exception, cb.add_listener, cb.add_excluded_exceptions, cb.add_listeners):
        check(f"{add.__name__}({label})", run_guarded(lambda add=add: add(value)))
    for kw in ("exclude", "listeners"):
        check(
            f"CircuitBreaker({kw}={label})",
            run_guarded(lambda kw=kw: pybreaker_mod.CircuitBreaker(**{kw: value})),
        )
    with pytest.raises(KeyError):
        cb.call(_raise_key_error)
    assert cb.call(lambda: 1) == 1


@pytest.mark.parametrize("setting", ["fail_max", "reset_timeout", "name"])
def test_pybreaker_refused_setting_leaves_the_breaker_as_it_was(setting: str) -> None:
    cb = pybreaker_mod.CircuitBreaker(fail_max=2, reset_timeout=30, name=unique("keep"))
    before = getattr(cb, setting)
    outcome = run_guarded(lambda: setattr(cb, setting, HOSTILE["deep-list"]))
    assert outcome is not None and typed(outcome), repr(outcome)
    assert getattr(cb, setting) == before
    cb.reset_timeout = 45  # the other settings still rebuild it
    assert cb.fail_max == 2 and cb.reset_timeout == 45


LOG_EVENTS_CHILD = """
import math, sys
import bastion.observability as o
from bastion import BastionError
mb2 = "x" * (2 * 1024 * 1024)
values = [None, object(), 1.5, math.nan, math.inf, -math.inf, -1, 2**64, -(2**64), "", "a\\x00b",
          "\\ud800", mb2, mb2.encode(), b"\\xff\\xfe", [[[]]], {"a": object()}]
for v in values:
    try:
        o.log_events(v)
        print("ok")
    except (TypeError, OverflowError, ValueError, BastionError) as e:
        print("typed", len(str(e).encode("utf-8", "surrogatepass")))
    except BaseException as e:
        print("untyped", type(e).__name__)
"""


def test_log_events_refuses_hostile_levels_typed() -> None:
    # ``log_events`` registers a process-wide listener for good: driven in a child process.
    out = subprocess.run(
        [sys.executable, "-c", LOG_EVENTS_CHILD], capture_output=True, text=True, timeout=120, check=True
    ).stdout.split("\n")
    outcomes = [line for line in out if line]
    assert len(outcomes) == 17, outcomes
    for line in outcomes:
        assert line == "ok" or (line.startswith("typed ") and int(line.split()[1]) <= MAX_MESSAGE), outcomes
    # Only numbers are levels.
    assert outcomes[0].startswith("typed") and outcomes[1].startswith("typed"), outcomes
    assert all(line.startswith("typed") for line in outcomes[9:]), outcomes


def test_log_events_valid_level_still_works() -> None:
    # The baseline of the child-process cases: a valid level is accepted in this process.
    observability_mod.log_events(logging.WARNING)


# ==== framework glue: bastion.fastapi and bastion._http ==================================


def _app_with_guard(**guard_kwargs: Any) -> Any:
    from fastapi import FastAPI

    app = FastAPI()
    fastapi_mod.Guard(**guard_kwargs).install(app)
    return app


def make_request(app: Any = None) -> Any:
    from starlette.requests import Request

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "headers": [(b"user-agent", b"hostile-suite")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "scheme": "http",
        "root_path": "",
        "app": app if app is not None else _app_with_guard(),
    }
    return Request(scope)


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: dict[str, Any]) -> None:
    return None


async def _asgi_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def _response() -> Any:
    from starlette.responses import Response

    return Response()


def _guard_with_lockout() -> Any:
    return fastapi_mod.Guard(lockout=native.Lockout(store=store()))


INSTANCES.update(
    {
        "bastion._http.Answer": lambda: http_mod.problem(429, "d", code="RATE_LIMITED"),
        "bastion.fastapi.Guard": _guard_with_lockout,
        "bastion.fastapi.Problem": lambda: fastapi_mod.Problem(
            http_mod.problem(429, "d", code="RATE_LIMITED")
        ),
        "bastion.fastapi.RateLimit": lambda: fastapi_mod.RateLimit("5/minute"),
        "bastion.fastapi.Rule": lambda: fastapi_mod.Rule("5/minute"),
        "bastion.fastapi.RateLimitMiddleware": lambda: fastapi_mod.RateLimitMiddleware(
            _asgi_app, guard=fastapi_mod.Guard(), rules=[fastapi_mod.Rule("5/minute", name=unique("mw"))]
        ),
    }
)
BY_NAME.update(
    {
        "status": lambda: 429,
        "headers": lambda: {"X-A": "b"},
        "body": lambda: b"{}",
        "code": lambda: "RATE_LIMITED",
        "detail": lambda: "too many requests",
        "retry_after": lambda: 1.5,
        "error": lambda: exc.StoreUnavailableError("down"),
        "answer": lambda: http_mod.problem(429, "d", code="RATE_LIMITED"),
        "request": make_request,
        "conn": make_request,
        "response": _response,
        "app": lambda: _app_with_guard(),
        "roles": lambda: ["admin"],
        "rates": lambda: "5/minute",
        "claims": lambda: {"sub": "u"},
        "username": lambda: "u",
        "password": lambda: "pw",
        "stored_hash": lambda: None,
        "fn": lambda: async_one,
        "guard": fastapi_mod.Guard,
        "rules": lambda: [fastapi_mod.Rule("5/minute", name=unique("mw"))],
        "method": lambda: "GET",
        "path": lambda: "/",
        "scope": lambda: make_request().scope,
        "receive": lambda: _receive,
        "send": lambda: _send,
    }
)
BY_CALLABLE.update(
    {
        ("bastion.fastapi.RateLimitMiddleware", "app"): lambda: _asgi_app,
        ("bastion.fastapi.Guard.install", "app"): lambda: _app_with_guard(),
        ("bastion.fastapi.Guard.login", "request"): lambda: make_request(
            _app_with_guard(lockout=native.Lockout())
        ),
    }
)

FRAMEWORK = [http_mod, fastapi_mod]
FRAMEWORK_CASES: dict[str, tuple[ModuleType, Callable_]] = {
    name: (m, c) for m in FRAMEWORK for name, c in surface(m).items() if name not in EXEMPT
}


def test_every_public_framework_callable_has_a_case() -> None:
    missing = missing_cases(FRAMEWORK_CASES)
    assert not missing, "public callables without a hostile-input case:\n" + "\n".join(missing)
    for expected in (
        "bastion._http.problem",
        "bastion.fastapi.Guard",
        "bastion.fastapi.Guard.claims",
        "bastion.fastapi.RateLimit.__call__",
        "bastion.fastapi.require_role",
    ):
        assert expected in FRAMEWORK_CASES, expected


def framework_outcome(outcome: BaseException | None) -> BaseException | None:
    # An HTTP answer (a 401, a 403, a 429) is how these callables refuse a request: typed.
    return None if isinstance(outcome, fastapi_mod.Problem) else outcome


@pytest.mark.parametrize("name", sorted(FRAMEWORK_CASES))
def test_framework_valid_arguments_are_accepted_or_refused_typed(name: str) -> None:
    module, c = FRAMEWORK_CASES[name]
    check(name, framework_outcome(run_guarded(lambda: call(c, module))))


@pytest.mark.parametrize(("name", "param", "label"), list(hostile_params(FRAMEWORK_CASES, {})))
def test_framework_hostile_argument_gives_a_typed_error(name: str, param: str, label: str) -> None:
    module, c = FRAMEWORK_CASES[name]
    outcome = run_guarded(lambda: call(c, module, (param, HOSTILE[label])))
    check(f"{name}({param}={label})", framework_outcome(outcome))
