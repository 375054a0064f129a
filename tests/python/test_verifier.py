"""The pre-built Verifier and sign(): bastion's own, strict-by-default API."""

from __future__ import annotations

import datetime as dt
from typing import Any

import jwt as pyjwt
import pytest
from bastion import (
    DecodeError,
    ExpiredSignatureError,
    ImmatureSignatureError,
    InvalidArgumentError,
    InvalidAudienceError,
    InvalidIssuerError,
    InvalidKeyError,
    InvalidSubjectError,
    InvalidTokenTypeError,
    Key,
    ManualClock,
    MissingRequiredClaimError,
    Verifier,
    sign,
)
from conftest import ASYMMETRIC, HMAC_SECRET, NOW

KEY = Key.hmac(HMAC_SECRET)


def verifier(clock: ManualClock, **kw: Any) -> Verifier:
    return Verifier(KEY, ["HS256"], clock=clock, **kw)


def test_round_trip(clock: ManualClock, claims: dict[str, Any]) -> None:
    token = sign(claims, KEY, "HS256")
    v = verifier(clock)
    assert v.decode(token) == claims
    assert v.decode(token.encode()) == claims
    complete = v.decode_complete(token)
    assert complete["header"] == {"alg": "HS256", "typ": "JWT"}
    assert complete["payload"] == claims
    assert complete == pyjwt.decode_complete(
        token, HMAC_SECRET, algorithms=["HS256"], options={"verify_exp": False, "verify_iat": False}
    )
    assert v.algorithms == ["HS256"]
    assert repr(v) == "<Verifier family='HMAC' algorithms=['HS256']>"


def test_exp_is_required_by_default(clock: ManualClock) -> None:
    token = sign({"sub": "a"}, KEY, "HS256")
    with pytest.raises(MissingRequiredClaimError) as e:
        verifier(clock).decode(token)
    assert e.value.claim == "exp"
    assert verifier(clock, required=()).decode(token) == {"sub": "a"}
    with pytest.raises(MissingRequiredClaimError):
        verifier(clock, required=["exp", "sub", "jti"]).decode(
            sign({"sub": "a", "exp": NOW + 5}, KEY, "HS256")
        )


def test_clock_drives_expiry(clock: ManualClock) -> None:
    token = sign({"exp": NOW + 60, "nbf": NOW + 10}, KEY, "HS256")
    v = verifier(clock)
    with pytest.raises(ImmatureSignatureError):
        v.decode(token)
    clock.advance(10)
    assert v.decode(token)
    clock.advance(50)
    with pytest.raises(ExpiredSignatureError):
        v.decode(token)
    assert verifier(clock, leeway=1.0).decode(token)


def test_max_age(clock: ManualClock) -> None:
    v = verifier(clock, required=(), max_age=30)
    token = sign({"iat": NOW}, KEY, "HS256")
    assert v.decode(token)
    clock.advance(30)
    with pytest.raises(ExpiredSignatureError):
        v.decode(token)
    with pytest.raises(MissingRequiredClaimError):
        v.decode(sign({"a": 1}, KEY, "HS256"))


def test_audience_issuer_subject(clock: ManualClock) -> None:
    token = sign({"exp": NOW + 5, "aud": "api", "iss": "idp", "sub": "u"}, KEY, "HS256")
    with pytest.raises(InvalidAudienceError):
        verifier(clock).decode(token)
    assert verifier(clock, audience="api").decode(token)
    assert verifier(clock, audience=["x", "api"], issuer=["idp"], subject="u").decode(token)
    with pytest.raises(InvalidIssuerError):
        verifier(clock, audience="api", issuer="other").decode(token)
    with pytest.raises(InvalidSubjectError):
        verifier(clock, audience="api", subject="v").decode(token)


def test_typ(clock: ManualClock) -> None:
    at = sign({"exp": NOW + 5}, KEY, "HS256", typ="at+jwt")
    assert verifier(clock, typ="application/at+JWT").decode(at)
    with pytest.raises(InvalidTokenTypeError):
        verifier(clock, typ="JWT").decode(at)
    untyped = sign({"exp": NOW + 5}, KEY, "HS256", typ=None)
    assert "typ" not in pyjwt.get_unverified_header(untyped)
    with pytest.raises(InvalidTokenTypeError):
        verifier(clock, typ="JWT").decode(untyped)


def test_critical_extensions(clock: ManualClock) -> None:
    header = {"alg": "HS256", "crit": ["exp-ext"], "exp-ext": 1}
    token = pyjwt.api_jws.PyJWS().encode(b'{"exp": 1800000000}', HMAC_SECRET, "HS256", headers=header)
    with pytest.raises(DecodeError, match="critical"):
        verifier(clock).decode(token)
    assert verifier(clock, critical_extensions=["exp-ext"]).decode(token) == {"exp": 1_800_000_000}


def test_sign_headers_and_kid(clock: ManualClock) -> None:
    token = sign({"exp": NOW + 5}, KEY.with_kid("k1"), "HS512", headers={"cty": "x"})
    assert pyjwt.get_unverified_header(token) == {"alg": "HS512", "cty": "x", "kid": "k1", "typ": "JWT"}
    with pytest.raises(InvalidArgumentError):
        sign({"a": 1}, KEY, "HS256", headers={"crit": ["x"], "x": 1})
    with pytest.raises(InvalidArgumentError):
        sign({"a": 1}, KEY, "HS256", headers={"alg": "HS512"})
    with pytest.raises(InvalidArgumentError):
        sign({"exp": "soon"}, KEY, "HS256")
    assert verifier(clock).decode(
        sign({"exp": dt.datetime.fromtimestamp(NOW + 5, dt.timezone.utc)}, KEY, "HS256")
    )


def test_material_keys(clock: ManualClock) -> None:
    pair = ASYMMETRIC["ES256"]
    token = sign({"exp": NOW + 5}, Key.from_pem(pair.private_pem), "ES256")
    assert Verifier(pair.public_pem, ["ES256"], clock=clock).decode(token)
    assert Verifier(HMAC_SECRET, ["HS256"], clock=clock).decode(sign({"exp": NOW + 5}, KEY, "HS256"))
    with pytest.raises(InvalidKeyError):
        Verifier(pair.public_pem, ["HS256"])


def test_config_errors(clock: ManualClock) -> None:
    token = sign({"exp": NOW + 5}, KEY, "HS256")
    with pytest.raises(InvalidArgumentError):
        Verifier(KEY, [], clock=clock).decode(token)
    with pytest.raises(InvalidArgumentError):
        Verifier(KEY, ["HS256"], leeway=-1, clock=clock).decode(token)
    with pytest.raises(TypeError):
        Verifier(KEY, ["HS256"], clock="now")  # type: ignore[arg-type]


def test_nonce(clock: ManualClock) -> None:
    from bastion.exceptions import InvalidNonceError

    token = sign({"sub": "u", "nonce": "n-1", "exp": NOW + 60}, KEY, "HS256")
    assert verifier(clock, nonce="n-1").decode(token)["nonce"] == "n-1"
    with pytest.raises(InvalidNonceError) as e:
        verifier(clock, nonce="n-2").decode(token)
    assert e.value.code == "INVALID_NONCE"
    no_nonce = sign({"sub": "u", "exp": NOW + 60}, KEY, "HS256")
    with pytest.raises(MissingRequiredClaimError):
        verifier(clock, nonce="n-1").decode(no_nonce)


def test_unusable_configuration_fails_at_construction(clock: ManualClock) -> None:
    with pytest.raises(InvalidArgumentError):
        Verifier(KEY, [], clock=clock)
    with pytest.raises(InvalidArgumentError):
        verifier(clock, leeway=-1)
    with pytest.raises(InvalidArgumentError):
        verifier(clock, max_age=float("nan"))
