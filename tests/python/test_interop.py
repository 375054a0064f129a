"""Tokens made by PyJWT verify with bastion, and the other way round, for every algorithm both support."""

from __future__ import annotations

import time
from typing import Any

import bastion.jwt as jwt
import jwt as pyjwt
import pytest
from bastion import Key, Verifier, sign
from conftest import ALL_ALGORITHMS, ASYMMETRIC, HMAC_SECRET


def keys(alg: str) -> tuple[Any, Any]:
    """(signing key, verification key) as cryptography objects or the HMAC secret."""
    if alg.startswith("HS"):
        return HMAC_SECRET, HMAC_SECRET
    pair = ASYMMETRIC[alg]
    return pair.private, pair.public


def payload() -> dict[str, Any]:
    now = int(time.time())  # PyJWT reads the system clock
    return {"sub": "user-1", "iat": now, "nbf": now, "exp": now + 600, "aud": ["api"], "iss": "idp", "n": 1.5}


@pytest.mark.parametrize("alg", ALL_ALGORITHMS)
def test_pyjwt_to_bastion(alg: str) -> None:
    signing, verifying = keys(alg)
    claims = payload()
    token = pyjwt.encode(claims, signing, algorithm=alg, headers={"kid": "k1"})
    assert jwt.decode(token, verifying, algorithms=[alg], audience="api", issuer="idp") == claims
    complete = jwt.decode_complete(token, verifying, algorithms=[alg], audience="api")
    assert complete == pyjwt.decode_complete(token, verifying, algorithms=[alg], audience="api")
    if alg.startswith("HS"):
        native = Key.hmac(HMAC_SECRET)
    else:
        native = Key.from_pem(ASYMMETRIC[alg].public_pem)
    assert Verifier(native, [alg], audience="api", issuer="idp").decode(token) == claims


@pytest.mark.parametrize("alg", ALL_ALGORITHMS)
def test_bastion_to_pyjwt(alg: str) -> None:
    signing, verifying = keys(alg)
    claims = payload()
    token = jwt.encode(claims, signing, algorithm=alg, headers={"kid": "k1"})
    assert pyjwt.decode(token, verifying, algorithms=[alg], audience="api", issuer="idp") == claims
    assert pyjwt.get_unverified_header(token) == {"alg": alg, "kid": "k1", "typ": "JWT"}
    if alg.startswith("HS"):
        native = Key.hmac(HMAC_SECRET)
    else:
        native = Key.from_pem(ASYMMETRIC[alg].private_pem)
    token = sign(claims, native, alg)
    assert pyjwt.decode(token, verifying, algorithms=[alg], audience="api") == claims


@pytest.mark.parametrize("alg", [a for a in ALL_ALGORITHMS if not a.startswith("HS")])
def test_pem_strings_as_pyjwt_uses_them(alg: str) -> None:
    pair = ASYMMETRIC[alg]
    claims = payload()
    token = jwt.encode(claims, pair.private_pem.decode(), algorithm=alg)
    assert pyjwt.decode(token, pair.public_pem.decode(), algorithms=[alg], audience="api") == claims
    token = pyjwt.encode(claims, pair.private_pem, algorithm=alg)
    assert jwt.decode(token, pair.public_pem, algorithms=[alg], audience="api") == claims
    if alg != "ES256K":
        assert jwt.decode(token, pair.public_ssh, algorithms=[alg], audience="api") == claims


def test_tampered_tokens_fail_both_ways() -> None:
    for alg in ALL_ALGORITHMS:
        signing, verifying = keys(alg)
        token = pyjwt.encode({"a": 1}, signing, algorithm=alg)
        head, _body, sig = token.split(".")
        forged = ".".join([head, pyjwt.utils.base64url_encode(b'{"a":2}').decode(), sig])
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(forged, verifying, algorithms=[alg])
