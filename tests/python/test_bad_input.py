"""Hostile and wrong input gives typed exceptions, never a crash or a hang.

Every failure must be a ``TypeError`` or a ``bastion.exceptions`` class that is
also a ``ValueError`` (both subclasses of ``BastionError``), never a Rust panic
(``pyo3_runtime.PanicException``, a ``BaseException``).
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from typing import Any

import bastion.jwt as jwt
import jwt as pyjwt
import pytest
from bastion import (
    BastionError,
    DecodeError,
    InvalidArgumentError,
    InvalidHashError,
    Key,
    PasswordHasher,
    Verifier,
    hash_password,
    identify_hash,
    needs_rehash,
    sign,
    verify_password,
)
from bastion import _native as native
from conftest import ASYMMETRIC, HMAC_SECRET

TEN_MB = 10 * 1024 * 1024
KEY = Key.hmac(HMAC_SECRET)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def typed(call: Callable[[], Any], *expected: type[BaseException]) -> BaseException:
    """Runs ``call`` and returns its exception, which must be typed."""
    try:
        call()
    except Exception as e:
        assert isinstance(e, TypeError) or (isinstance(e, BastionError) and isinstance(e, ValueError)), repr(
            e
        )
        if expected:
            assert isinstance(e, expected), repr(e)
        return e
    raise AssertionError("no exception raised")


def decode(token: Any, **kw: Any) -> Any:
    kw.setdefault("algorithms", ["HS256"])
    return jwt.decode(token, HMAC_SECRET, **kw)


# ---- tokens --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        "",
        ".",
        "..",
        "a.b",
        "a.b.c.d",
        "....................",
        "a.b.c",
        "!!!.###.$$$",
        "eyJhbGciOiJIUzI1NiJ9=.e30.AA",
        b"\xff\xfe\xfd.\x80.\x00",
        "\ud800.e30.AA",
        "é.é.é",
        "x" * TEN_MB,
        b"." * TEN_MB,
        "eyJ" * 1000 + "." + "e30" * 1000 + ".AA",
    ],
)
def test_malformed_tokens(token: Any) -> None:
    typed(lambda: decode(token), DecodeError)
    typed(lambda: jwt.get_unverified_header(token), DecodeError)
    typed(lambda: decode(token, options={"verify_signature": False}), DecodeError)
    typed(lambda: Verifier(KEY, ["HS256"]).decode(token), DecodeError)


@pytest.mark.parametrize("token", [None, 1, 1.5, [], {}, object(), bytearray(b"a.b.c")])
def test_token_of_wrong_type(token: Any) -> None:
    typed(lambda: decode(token), DecodeError)
    typed(lambda: jwt.get_unverified_header(token), DecodeError)
    typed(lambda: Verifier(KEY, ["HS256"]).decode(token), DecodeError)


def forge(header: Any, payload: Any, raw: bool = False) -> str:
    h = header if raw else json.dumps(header)
    p = payload if raw else json.dumps(payload)
    signing_input = f"{b64(h.encode())}.{b64(p.encode())}"
    sig = pyjwt.get_algorithm_by_name("HS256").sign(signing_input.encode(), HMAC_SECRET.encode())
    return f"{signing_input}.{b64(sig)}"


@pytest.mark.parametrize(
    ("header", "payload"),
    [
        ('{"alg":"HS256","alg":"none"}', "{}"),
        ('{"alg":"HS256"}', '{"a":1,"a":2}'),
        ('{"alg":"HS256"}', "[1,2]"),
        ('{"alg":"HS256"}', '"text"'),
        ('{"alg":"HS256"}', "{'a': 1}"),
        ('{"alg":"HS256"}', '{"a": NaN}'),
        ('{"alg":"HS256"}', '{"a": 1e999}'),
        ('{"alg":"HS256"}', "[" * 100_000),
        ('{"alg":"HS256"}', '{"a":' * 65 + "1" + "}" * 65),
        ('{"alg":"HS256"}', '{"a":"\\ud800"}'),
        ('{"alg":"HS256"}', '{"a":' + "9" * 5000 + "}"),
        ("[" * 1000, "{}"),
        ('{"alg":["HS256"]}', "{}"),
        ('{"alg":"HS256","kid":1}', "{}"),
        ('{"alg":"HS256","b64":false,"crit":["b64"]}', "{}"),
        ('{"alg":"HS256","crit":["unknown"],"unknown":1}', "{}"),
    ],
)
def test_hostile_json(header: str, payload: str) -> None:
    token = forge(header, payload, raw=True)
    typed(lambda: jwt.decode(token, HMAC_SECRET, algorithms=["HS256"], max_token_size=10**6), DecodeError)


def test_nesting_up_to_the_bound_is_fine() -> None:
    deep: Any = 1
    for _ in range(60):
        deep = [deep]
    token = jwt.encode({"d": deep}, HMAC_SECRET)
    assert jwt.decode(token, HMAC_SECRET, algorithms=["HS256"])["d"] == deep


def test_none_algorithm_tokens() -> None:
    for alg in ("none", "None", "NONE", "nOnE"):
        token = f"{b64(json.dumps({'alg': alg}).encode())}.{b64(b'{}')}."
        typed(lambda t=token: decode(t))
        typed(lambda t=token: decode(t, algorithms=["none"]))


# ---- encode / sign ---------------------------------------------------------------------


def self_referential() -> dict[str, Any]:
    d: dict[str, Any] = {}
    d["self"] = d
    return d


def deeply_nested(depth: int) -> dict[str, Any]:
    v: Any = 1
    for _ in range(depth):
        v = {"x": [v]}
    return {"v": v}


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"a": math.nan}, InvalidArgumentError),
        ({"a": math.inf}, InvalidArgumentError),
        ({"a": -math.inf}, InvalidArgumentError),
        ({"a": {1, 2}}, TypeError),
        ({"a": object()}, TypeError),
        ({"a": b"bytes"}, TypeError),
        ({"a": 1j}, TypeError),
        ({("t",): 1}, TypeError),
        ({"a": "\ud800"}, ValueError),
        ({"\udfff": 1}, ValueError),
        (self_referential(), InvalidArgumentError),
        (deeply_nested(1000), InvalidArgumentError),
        ({"exp": "soon"}, InvalidArgumentError),
        ({"aud": 1}, InvalidArgumentError),
        ({"a": 10**5000}, InvalidArgumentError),
    ],
)
def test_bad_payloads(payload: Any, error: type[BaseException]) -> None:
    typed(lambda: jwt.encode(payload, HMAC_SECRET), error)
    typed(lambda: sign(payload, KEY, "HS256"), error)


@pytest.mark.parametrize("payload", [None, 1, "x", b"x", [("a", 1)], ("a",)])
def test_payload_not_a_mapping(payload: Any) -> None:
    typed(lambda: jwt.encode(payload, HMAC_SECRET), TypeError)
    typed(lambda: sign(payload, KEY, "HS256"), TypeError)


def test_huge_payload_encodes_but_does_not_decode_by_default() -> None:
    token = jwt.encode({"blob": "x" * TEN_MB}, HMAC_SECRET)
    typed(lambda: jwt.decode(token, HMAC_SECRET, algorithms=["HS256"]), DecodeError)
    assert (
        len(jwt.decode(token, HMAC_SECRET, algorithms=["HS256"], max_token_size=len(token))["blob"]) == TEN_MB
    )


@pytest.mark.parametrize(
    "headers",
    [
        {"kid": 1},
        {"typ": 5},
        {"alg": 5},
        {"crit": ["x"], "x": 1},
        {"b64": False},
        {"alg": "none"},
        {"x": math.nan},
    ],
)
def test_bad_headers(headers: dict[str, Any]) -> None:
    typed(lambda: jwt.encode({"a": 1}, HMAC_SECRET, headers=headers))


def test_headers_not_a_mapping() -> None:
    typed(lambda: jwt.encode({"a": 1}, HMAC_SECRET, headers=[("kid", "x")]), TypeError)  # type: ignore[arg-type]
    typed(lambda: sign({"a": 1}, KEY, "HS256", headers="kid"), TypeError)  # type: ignore[arg-type]


# ---- keys and arguments -------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, 1, 1.5, [], {}, object()])
def test_keys_of_wrong_type(key: Any) -> None:
    token = jwt.encode({"a": 1}, HMAC_SECRET)
    typed(lambda: jwt.decode(token, key, algorithms=["HS256"]), TypeError)
    typed(lambda: jwt.encode({"a": 1}, key), TypeError)
    typed(lambda: native.jwt_decode(token, key, ["HS256"]))  # None: no key given
    typed(lambda: Verifier(key, ["HS256"]), TypeError)


@pytest.mark.parametrize(
    "call",
    [
        lambda: Key.hmac(1),
        lambda: Key.hmac(""),
        lambda: Key.from_pem("not a pem"),
        lambda: Key.from_pem(b"-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----\n"),
        lambda: Key.from_pem("x" * TEN_MB),
        lambda: Key.from_pem(b"\xff" * 100),
        lambda: Key.from_der(b""),
        lambda: Key.from_der(b"\x30\x82\xff\xff"),
        lambda: Key.from_der("text"),
        lambda: Key.from_jwk("{"),
        lambda: Key.from_jwk("[]"),
        lambda: Key.from_jwk({}),
        lambda: Key.from_jwk({"kty": "oct", "k": 1}),
        lambda: Key.from_jwk({"kty": "oct", "k": "***"}),
        lambda: Key.from_jwk({"kty": "RSA", "n": "AQAB", "e": "AQAB"}),
        lambda: Key.from_jwk({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}),
        lambda: Key.from_jwk({"kty": "OKP", "crv": "Ed448", "x": "AA"}),
        lambda: Key.from_jwk(deeply_nested(200)),
        lambda: Key.from_jwk(self_referential()),
        lambda: Key.from_jwk({"kty": math.nan}),
        lambda: Key.from_jwk(b"\xff\xfe"),
        lambda: Key.from_jwk(1),
        lambda: Key.from_ssh("ssh-rsa AAAA"),
        lambda: Key.from_ssh("ssh-ed25519 " + "A" * TEN_MB),
        lambda: Key.from_material(ASYMMETRIC["RS256"].public_pem, ["HS256"]),
        lambda: Key.from_material(HMAC_SECRET, ["RS256"]),
        lambda: Key.from_material(HMAC_SECRET, ["XX1"]),
        lambda: Key.from_material(HMAC_SECRET, [1]),
        lambda: Key.from_jwk({"kty": "oct", "k": "AAAA"}, "RS256"),
    ],
)
def test_bad_key_material(call: Callable[[], Any]) -> None:
    typed(call)


def test_bad_decode_arguments() -> None:
    token = jwt.encode({"a": 1, "aud": "x"}, HMAC_SECRET)
    typed(lambda: decode(token, algorithms=["none"]))
    typed(lambda: decode(token, algorithms=["HS256", "bogus"]))
    typed(lambda: decode(token, algorithms=[1]), TypeError)
    typed(lambda: decode(token, algorithms=1), TypeError)
    typed(lambda: decode(token, options=["verify_exp"]), TypeError)
    typed(lambda: decode(token, options={"require": 1}), TypeError)
    typed(lambda: decode(token, leeway="1"), TypeError)
    typed(lambda: decode(token, leeway=-1), InvalidArgumentError)
    typed(lambda: decode(token, leeway=math.nan), InvalidArgumentError)
    typed(lambda: decode(token, audience=1), TypeError)
    typed(lambda: decode(token, audience=[1]), TypeError)
    typed(lambda: decode(token, issuer=1), TypeError)
    typed(lambda: decode(token, subject=1), TypeError)
    typed(lambda: decode(token, clock="now"), TypeError)
    typed(lambda: decode(token, max_token_size=-1), InvalidArgumentError)
    typed(lambda: decode(token, max_token_size=2**80), InvalidArgumentError)
    typed(lambda: decode(token, max_token_size="8k"), TypeError)
    typed(lambda: decode(token, detached_payload=b"{}"), DecodeError)
    typed(lambda: Verifier(KEY, "HS256", audience="x", max_age=math.inf).decode(token), InvalidArgumentError)


# ---- passwords -----------------------------------------------------------------------------

FAST = {"time_cost": 1, "memory_cost": 64, "parallelism": 1}


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "$",
        "$$$$",
        "$argon2id$",
        "$argon2id$v=19$m=65536,t=3,p=4$",
        "$argon2id$v=19$m=4294967295,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        "$argon2id$v=19$m=65536,t=999999,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        "$argon2id$v=19$m=65536,t=3,p=4,x=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        "$2b$99$" + "a" * 53,
        "$2b$12$" + "!" * 53,
        "pbkdf2_sha256$0$salt$hash",
        "pbkdf2_sha256$99999999999$salt$aGFzaA==",
        "bcrypt_sha256$$2b$12$short",
        "md5$salt$hash",
        "é" * 10,
        "$argon2id$" + "A" * TEN_MB,
        b"\xff\xfe",
    ],
)
def test_malformed_hashes(encoded: Any) -> None:
    typed(lambda: verify_password(encoded, "pw"), InvalidHashError)
    typed(lambda: identify_hash(encoded), InvalidHashError)
    typed(lambda: needs_rehash(encoded), InvalidHashError)
    typed(lambda: PasswordHasher().verify(encoded, "pw"), InvalidHashError)


@pytest.mark.parametrize("value", [None, 1, [], object()])
def test_password_arguments_of_wrong_type(value: Any) -> None:
    good = hash_password("pw", **FAST)
    typed(lambda: verify_password(good, value), TypeError)
    typed(lambda: verify_password(value, "pw"), TypeError)
    typed(lambda: hash_password(value, **FAST), TypeError)


@pytest.mark.parametrize(
    "call",
    [
        lambda: hash_password("pw", "md5"),
        lambda: hash_password("pw", format="ldap"),
        lambda: hash_password("pw", time_cost=0),
        lambda: hash_password("pw", time_cost=2**40),
        lambda: hash_password("pw", time_cost=-1),
        lambda: hash_password("pw", memory_cost=2**31),
        lambda: hash_password("pw", parallelism=0),
        lambda: hash_password("pw", hash_len=2),
        lambda: hash_password("pw", salt=b"short", **FAST),
        lambda: hash_password("pw", "bcrypt", rounds=3),
        lambda: hash_password("pw", "bcrypt", iterations=3),
        lambda: hash_password("pw", "pbkdf2_sha256", format="phc"),
        lambda: hash_password("pw", "pbkdf2_sha256", format="django", rounds=3),
        lambda: hash_password("x" * 73, "bcrypt", rounds=4),
        lambda: hash_password("pw", time_cost="3"),
        lambda: PasswordHasher(time_cost="3"),
    ],
)
def test_bad_hash_parameters(call: Callable[[], Any]) -> None:
    typed(call)


def test_huge_password_is_fine() -> None:
    encoded = hash_password("x" * TEN_MB, **FAST)
    assert verify_password(encoded, "x" * TEN_MB)
    assert not verify_password(encoded, "x" * (TEN_MB - 1))
