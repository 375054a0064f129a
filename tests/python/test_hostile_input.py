"""Hostile input across the whole native API gives typed errors, never a crash or a hang.

The suite enumerates ``bastion._native`` at run time: every public function, every class's
constructor and every public method. Their parameters are read from the ``.pyi`` stub (which
stubtest keeps equal to the binary). Each callable is first called with valid arguments (from the
tables below), then once per parameter and hostile value with that one argument replaced: wrong
types, megabytes of text, non-UTF-8 bytes, NUL bytes, lone surrogates, deep nesting, NaN,
infinities, negative numbers and 2**64.

Every outcome must be a return value or a typed exception: ``TypeError``, ``OverflowError``
(Python's own for an integer that does not fit), a ``ValueError``, or a ``bastion.exceptions``
class. A Rust panic (``pyo3_runtime.PanicException``, a ``BaseException``) or any other exception
fails, and a callable without a way to build its arguments or instance fails too, so a new
function cannot go untested.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from bastion import _native as native
from conftest import HMAC_SECRET
from hostile_values import HOSTILE as BASE_HOSTILE
from hostile_values import call_in_loop, run_guarded, typed

STUB = Path(native.__file__).with_name("_native.pyi")
HOSTILE: dict[str, Any] = dict(BASE_HOSTILE)


# ---- valid arguments -------------------------------------------------------------------

CLOCK = native.ManualClock(1_700_000_000)
KEY = native.Key.hmac(HMAC_SECRET)
TOKEN = native.sign({"sub": "u", "exp": 1_900_000_000}, KEY, "HS256")
PEPPER = "p3pp3r-Xq8Zr2Lk9Vm4Tn7Wb1Yc6Hd0Js5Gf3"


def store() -> Any:
    return native.Store(clock=CLOCK)


def key_hasher() -> Any:
    return native.ApiKeyHasher(PEPPER)


def api_keys() -> Any:
    return native.ApiKeys(key_hasher(), store=store())


def token_service() -> Any:
    return native.TokenService(KEY, store=store(), clock=CLOCK)


def breaker() -> Any:
    return native.CircuitBreaker(name="hostile", clock=CLOCK)


def shared_cache() -> Any:
    return native.SharedCache(store=store(), name="hostile")


# How to make an instance of each class, for its methods.
INSTANCES: dict[str, Callable[[], Any]] = {
    "ManualClock": lambda: native.ManualClock(0.0),
    "LockoutState": lambda: native.Lockout(store=store()).check(username="u"),
    "BreakerPermit": lambda: breaker().acquire(),
    "CircuitBreaker": breaker,
    "Flight": lambda: native.SingleFlight().begin("k"),
    "SingleFlight": native.SingleFlight,
    "Lease": lambda: native.Leases(store()).acquire("n", "o", 10.0),
    "Leases": lambda: native.Leases(store()),
    "CacheFill": lambda: shared_cache().begin("k"),
    "SharedCache": shared_cache,
    "Lockout": lambda: native.Lockout(store=store()),
    "ApiKeyHasher": key_hasher,
    "IssuedApiKey": lambda: key_hasher().generate(),
    "ApiKeyRecord": lambda: api_keys().create("o").record,
    "CreatedApiKey": lambda: api_keys().create("o"),
    "ApiKeys": api_keys,
    "Key": lambda: KEY,
    "Verifier": lambda: native.Verifier(KEY, ["HS256"], clock=CLOCK),
    "KeySet": lambda: native.KeySet(
        {"keys": [{"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMy"}]}
    ),
    "JwksClient": lambda: native.JwksClient("http://127.0.0.1:9/jwks.json"),
    "PasswordHasher": lambda: native.PasswordHasher(scheme="bcrypt", rounds=4),
    "Store": store,
    "TokenService": token_service,
    "TokenPair": lambda: token_service().issue_pair("u"),
    "Decision": lambda: native.RateLimiter("5/minute", store=store()).check("k"),
    "LimitStatus": lambda: native.RateLimiter("5/minute", store=store()).check("k").limits[0],
    "RateLimiter": lambda: native.RateLimiter("5/minute", store=store()),
    "RequestKey": lambda: native.RequestKey(["ip", "user", "route", None]),
}

# Valid values of required parameters, by name (then by callable, where a name means two things).
BY_NAME: dict[str, Callable[[], Any]] = {
    "secs": lambda: 1.0,
    "key": lambda: "k",
    "rates": lambda: "5/minute",
    "name": lambda: "n",
    "owner": lambda: "o",
    "ttl": lambda: 10.0,
    "store": store,
    "peer": lambda: "10.0.0.1",
    "headers": lambda: [("X-Forwarded-For", "1.2.3.4")],
    "secret": lambda: HMAC_SECRET,
    "signing_key": lambda: HMAC_SECRET,
    "secret_key": lambda: HMAC_SECRET[::-1],
    "pepper": lambda: PEPPER,
    "hasher": key_hasher,
    "digest": lambda: key_hasher().generate().digest,
    "id": lambda: "bst_0000",
    "pem": lambda: KEY_PEM,
    "der": lambda: b"\x30\x00",
    "jwk": lambda: {"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMy"},
    "line": lambda: "ssh-ed25519 AAAA",
    "material": lambda: HMAC_SECRET,
    "algorithm": lambda: "HS256",
    "algorithms": lambda: ["HS256"],
    "message": lambda: b"m",
    "signature": lambda: b"s" * 32,
    "kid": lambda: "kid",
    "token": lambda: TOKEN,
    "jwt": lambda: TOKEN,
    "claims": lambda: {"sub": "u"},
    "payload": lambda: {"sub": "u"},
    "size": lambda: 16,
    "jwks": lambda: {"keys": [{"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMy"}]},
    "url": lambda: "http://127.0.0.1:9/jwks.json",
    "password": lambda: "pw",
    "encoded": lambda: "pbkdf2_sha256$1000$abcdefghijklmnopqrstuv$" + "A" * 43 + "=",
    "stored_hash": lambda: None,
    "username": lambda: "u",
    "salt": lambda: b"s" * 16,
    "budget_kib": lambda: 1_048_576,
    "subject": lambda: "u",
    "refresh": lambda: "not-a-refresh-token",
    "family": lambda: "f",
    "permit": lambda: breaker().acquire(),
    "exc": lambda: ValueError("x"),
    "error": lambda: ValueError("x"),
    "result": lambda: 1,
    "value": lambda: b"v",
    "fn_": lambda: lambda: 1,
    "production": lambda: False,
    "parts": lambda: ["ip", None],
    "client": lambda: "10.0.0.1",
    "spec": lambda: "read",
    "header": lambda: "Bearer abc",
    "schemes": lambda: ["Bearer"],
    "held": lambda: "read admin",
    "roles": lambda: ["admin"],
    "status": lambda: 429,
    "detail": lambda: "too many requests",
    "code": lambda: "RATE_LIMITED",
}
BY_CALLABLE: dict[tuple[str, str], Callable[[], Any]] = {
    ("Verifier.__new__", "key"): lambda: KEY,
    ("sign", "key"): lambda: KEY,
    ("jwt_encode", "key"): lambda: HMAC_SECRET,
    ("verify_jws", "key"): lambda: KEY,
    ("TokenService.__new__", "key"): lambda: KEY,
    ("ApiKeyHasher.verify", "key"): lambda: "bst_x",
    ("ApiKeyHasher.hash", "key"): lambda: "bst_x",
    ("ApiKeys.verify", "key"): lambda: "bst_x",
    ("ApiKeys.averify", "key"): lambda: "bst_x",
    ("api_key_id", "key"): lambda: "bst_x",
}

KEY_PEM = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"

# Callables not driven with hostile arguments, and why. Everything else must have a case.
EXEMPT: dict[str, str] = {
    "Flight.wait": "a follower waits for its leader by design; its argument-free call has nothing hostile",
    "Flight.wait_async": "as Flight.wait",
    "CircuitBreaker.call": "calls an arbitrary Python function: its arguments are the caller's",
    "set_memory_budget_kib": "process-wide setting: exercised alone below, restored after",
    "add_event_listener": "a process-wide listener stays registered: exercised alone below",
}


# ---- the surface -----------------------------------------------------------------------


def stub_signatures() -> dict[str, ast.FunctionDef]:
    tree = ast.parse(STUB.read_text())
    out: dict[str, ast.FunctionDef] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            out[node.name] = node
        elif isinstance(node, ast.ClassDef):
            for f in node.body:
                if isinstance(f, ast.FunctionDef) and (not f.name.startswith("_") or f.name == "__new__"):
                    decorators = {ast.unparse(d) for d in f.decorator_list}
                    if "property" not in decorators:
                        out[f"{node.name}.{f.name}"] = f
    return out


SIGS = stub_signatures()


def public_callables() -> list[str]:
    """Every public function, constructor and method of the native module."""
    names = []
    for name, obj in vars(native).items():
        if name.startswith("_"):
            continue
        if inspect.isclass(obj):
            if issubclass(obj, BaseException):
                continue
            if "__new__" in vars(obj) or name in SIGS_CTORS:
                names.append(f"{name}.__new__")
            for m, attr in vars(obj).items():
                if not m.startswith("_") and callable(attr) and not isinstance(attr, property):
                    names.append(f"{name}.{m}")
        elif callable(obj):
            names.append(name)
    return sorted(set(names))


SIGS_CTORS = {n.split(".")[0] for n in SIGS if n.endswith(".__new__")}


def params(name: str) -> tuple[list[str], list[str]]:
    """(required, optional) parameter names of a callable, from the stub."""
    f = SIGS[name]
    positional = [a.arg for a in f.args.posonlyargs + f.args.args if a.arg not in ("self", "cls")]
    n_defaults = len(f.args.defaults)
    required = positional[: len(positional) - n_defaults] if n_defaults else positional
    optional = positional[len(required) :]
    for a, d in zip(f.args.kwonlyargs, f.args.kw_defaults, strict=True):
        (required if d is None else optional).append(a.arg)
    return required, optional


def target(name: str) -> Callable[..., Any]:
    owner, _, method = name.partition(".")
    obj = getattr(native, owner)
    if not method:
        return obj
    if method == "__new__":
        return obj
    if method in STATIC:
        return getattr(obj, method)
    return getattr(INSTANCES[owner](), method)


STATIC = {"hmac", "from_pem", "from_der", "from_jwk", "from_ssh", "from_material"}


def valid(name: str, param: str) -> Any:
    if (name, param) in BY_CALLABLE:
        return BY_CALLABLE[(name, param)]()
    return BY_NAME[param]()


def call(name: str, replace: tuple[str, Any] | None = None) -> Any:
    required, _ = params(name)
    fn = target(name)
    kwargs = {p: valid(name, p) for p in required}
    if replace is not None:
        kwargs[replace[0]] = replace[1]
    f = SIGS[name]
    positional_only = {a.arg for a in f.args.posonlyargs}
    args = [kwargs.pop(p) for p in list(kwargs) if p in positional_only]

    return call_in_loop(fn, args, kwargs)


CASES = [n for n in public_callables() if n not in EXEMPT]


def hostile_cases() -> Iterator[Any]:
    for name in CASES:
        if name not in SIGS:
            continue
        required, optional = params(name)
        for p in required + optional:
            for label in HOSTILE:
                yield pytest.param(name, p, label, id=f"{name}-{p}-{label}")


# ---- tests -----------------------------------------------------------------------------


def test_every_public_callable_has_a_case() -> None:
    missing = []
    for name in CASES:
        if name not in SIGS:
            missing.append(f"{name}: not in the stub")
            continue
        owner = name.partition(".")[0]
        method = name.partition(".")[2]
        if method and method != "__new__" and method not in STATIC and owner not in INSTANCES:
            missing.append(f"{name}: no INSTANCES factory for {owner}")
        for p in params(name)[0]:
            if (name, p) not in BY_CALLABLE and p not in BY_NAME:
                missing.append(f"{name}: no valid value for {p!r}")
    assert not missing, "public callables without a hostile-input case:\n" + "\n".join(missing)
    assert len(CASES) > 100


@pytest.mark.parametrize("name", CASES)
def test_valid_arguments_are_accepted_or_refused_typed(name: str) -> None:
    # The baseline of every hostile case: the valid call returns or fails typed.
    outcome = run_guarded(lambda: call(name))
    assert outcome is None or typed(outcome), f"{name}: {outcome!r}"


@pytest.mark.parametrize(("name", "param", "label"), list(hostile_cases()))
def test_hostile_argument_gives_a_typed_error(name: str, param: str, label: str) -> None:
    value = HOSTILE[label]
    outcome = run_guarded(lambda: call(name, (param, value)))
    if outcome is not None:
        assert typed(outcome), f"{name}({param}={label}): {type(outcome).__module__}.{type(outcome).__name__}"
        # Errors never echo megabytes (or secrets) back.
        assert len(str(outcome)) < 4096, f"{name}({param}={label}): a {len(str(outcome))}-character message"


@pytest.mark.parametrize("label", list(HOSTILE))
def test_memory_budget_setting(label: str) -> None:
    before = native.memory_budget()[0]
    try:
        outcome = run_guarded(lambda: native.set_memory_budget_kib(HOSTILE[label]))
        assert outcome is None or typed(outcome), repr(outcome)
    finally:
        native.set_memory_budget_kib(before)


@pytest.fixture(autouse=True)
def _verified_token_cache_size_restored() -> Iterator[None]:
    """The verified-token cache size is process-wide: a valid call changes it for later tests."""
    size = native.set_verified_token_cache_size(4096)
    native.set_verified_token_cache_size(size)
    yield
    native.set_verified_token_cache_size(size)


@pytest.mark.parametrize("label", list(HOSTILE))
def test_event_listener_registration(label: str) -> None:
    # A hostile callback or severity is refused before anything is registered; a valid pair
    # registers a listener for the rest of the process, so only errors are asked for.
    # No hostile value is callable: registering it would fail on every later event.
    refused = run_guarded(lambda: native.add_event_listener(HOSTILE[label], "error"))
    assert refused is not None and typed(refused), f"callback={label}: {refused!r}"
    outcome = run_guarded(lambda: native.add_event_listener(lambda event: None, HOSTILE[label]))
    assert outcome is None or typed(outcome), f"min_severity={label}: {outcome!r}"
