"""bastion.jwt behaves as PyJWT 2.x for code written against PyJWT."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import types
import uuid
import warnings
from typing import Any

import bastion.jwt as jwt
import jwt as pyjwt
import pytest
from bastion import BastionError, InvalidArgumentError, Key, ManualClock
from conftest import ASYMMETRIC, HMAC_SECRET, NOW


def enc(payload: dict[str, Any], **kw: Any) -> str:
    return jwt.encode(payload, HMAC_SECRET, algorithm=kw.pop("algorithm", "HS256"), **kw)


def dec(token: str | bytes, clock: ManualClock, **kw: Any) -> dict[str, Any]:
    kw.setdefault("algorithms", ["HS256"])
    return jwt.decode(token, HMAC_SECRET, clock=clock, **kw)


# ---- encode ----------------------------------------------------------------------------


def test_encode_is_byte_identical_to_pyjwt(claims: dict[str, Any]) -> None:
    payload = {**claims, "n": 1.5, "big": 10**40, "neg": -3, "u": 'é😀\n"', "l": [1, None, True], "o": {}}
    for alg in ("HS256", "HS384", "HS512"):
        ours = jwt.encode(payload, HMAC_SECRET, algorithm=alg)
        theirs = pyjwt.encode(payload, HMAC_SECRET, algorithm=alg)
        assert ours == theirs


def test_float_formatting_matches_json_dumps() -> None:
    values = [0.0, -0.0, 0.1, 1.0, 1e16, 1e15, 1.5e-5, 1e-4, 123456.789, 1e300, -2.5e-300, 5e-324, 1 / 3]
    for v in values:
        token = enc({"v": v})
        assert token == pyjwt.encode({"v": v}, HMAC_SECRET, algorithm="HS256"), v


def test_default_algorithm_is_hs256_and_header_sorted(clock: ManualClock) -> None:
    token = jwt.encode({"a": 1}, HMAC_SECRET)
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    assert list(jwt.get_unverified_header(token)) == ["alg", "typ"]


def test_datetime_claims_become_timestamps(clock: ManualClock) -> None:
    exp = dt.datetime.fromtimestamp(NOW + 60, tz=dt.timezone.utc)
    iat = dt.datetime.fromtimestamp(NOW, tz=dt.timezone.utc)
    naive = dt.datetime(2023, 11, 14, 22, 13, 20)  # naive = UTC, as PyJWT treats it
    token = enc({"exp": exp, "iat": iat, "nbf": naive})
    assert dec(token, clock) == {"exp": NOW + 60, "iat": NOW, "nbf": NOW}
    assert token == pyjwt.encode({"exp": exp, "iat": iat, "nbf": naive}, HMAC_SECRET, algorithm="HS256")


def test_datetime_elsewhere_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        enc({"when": dt.datetime.now()})
    with pytest.raises(TypeError):
        enc({"nested": {"exp": dt.datetime.now()}})


def test_payload_must_be_a_mapping() -> None:
    for bad in ([("a", 1)], "x", 1, None):
        with pytest.raises(TypeError, match="Expecting a dict object"):
            jwt.encode(bad, HMAC_SECRET)  # type: ignore[arg-type]
    proxy = types.MappingProxyType({"a": 1})
    assert jwt.decode(jwt.encode(proxy, HMAC_SECRET), HMAC_SECRET, algorithms=["HS256"]) == {"a": 1}


def test_json_encoder_is_used_for_payload_and_headers(clock: ManualClock) -> None:
    class Enc(json.JSONEncoder):
        def default(self, o: Any) -> Any:
            if isinstance(o, (decimal.Decimal, uuid.UUID)):
                return str(o)
            return super().default(o)

    u = uuid.UUID(int=7)
    token = enc({"d": decimal.Decimal("1.10"), "u": u}, headers={"x": u}, json_encoder=Enc)
    assert dec(token, clock) == {"d": "1.10", "u": str(u)}
    assert jwt.get_unverified_header(token)["x"] == str(u)
    assert token == pyjwt.encode(
        {"d": decimal.Decimal("1.10"), "u": u},
        HMAC_SECRET,
        algorithm="HS256",
        headers={"x": u},
        json_encoder=Enc,
    )


def test_non_str_keys_are_converted_like_json_dumps(clock: ManualClock) -> None:
    payload = {1: "a", False: "b", None: "c", 2.5: "d"}
    token = enc(payload)  # type: ignore[arg-type]
    assert dec(token, clock) == {"1": "a", "false": "b", "null": "c", "2.5": "d"}
    assert token == pyjwt.encode(payload, HMAC_SECRET, algorithm="HS256")


def test_headers(clock: ManualClock) -> None:
    token = enc({"a": 1}, headers={"kid": "k1", "cty": "x"})
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "cty": "x", "kid": "k1", "typ": "JWT"}
    # A falsy typ drops it; alg in headers wins over the argument (PyJWT).
    token = jwt.encode({"a": 1}, HMAC_SECRET, algorithm="HS256", headers={"typ": None, "alg": "HS512"})
    assert jwt.get_unverified_header(token) == {"alg": "HS512"}
    assert jwt.decode(token, HMAC_SECRET, algorithms=["HS512"]) == {"a": 1}
    with pytest.raises(jwt.InvalidTokenError, match="Key ID header parameter must be a string"):
        enc({"a": 1}, headers={"kid": 1})


def test_key_kid_goes_into_header() -> None:
    key = Key.hmac(HMAC_SECRET).with_kid("k-7")
    token = jwt.encode({"a": 1}, key)
    assert jwt.get_unverified_header(token)["kid"] == "k-7"
    token = jwt.encode({"a": 1}, key, headers={"kid": "explicit"})
    assert jwt.get_unverified_header(token)["kid"] == "explicit"


def test_unknown_or_none_algorithm_is_refused() -> None:
    with pytest.raises(jwt.InvalidAlgorithmError):
        jwt.encode({"a": 1}, HMAC_SECRET, algorithm="XS256")
    with pytest.raises(jwt.InvalidAlgorithmError, match="none"):
        jwt.encode({"a": 1}, HMAC_SECRET, algorithm=None)


def test_iss_must_be_a_string_when_encoding() -> None:
    with pytest.raises(InvalidArgumentError, match="Issuer"):
        enc({"iss": 1})


# ---- decode: arguments --------------------------------------------------------------------


def test_algorithms_are_required() -> None:
    token = enc({"a": 1})
    msg = 'It is required that you pass in a value for the "algorithms" argument when calling decode().'
    with pytest.raises(jwt.DecodeError) as e:
        jwt.decode(token, HMAC_SECRET)
    assert str(e.value) == msg
    with pytest.raises(jwt.DecodeError):
        jwt.decode(token, HMAC_SECRET, algorithms=[])


def test_algorithm_not_allowed(clock: ManualClock) -> None:
    token = enc({"a": 1}, algorithm="HS384")
    with pytest.raises(jwt.InvalidAlgorithmError, match="not allowed"):
        dec(token, clock, algorithms=["HS256", "HS512"])
    assert dec(token, clock, algorithms=["HS384"]) == {"a": 1}
    assert dec(token, clock, algorithms="HS384") == {"a": 1}


def test_str_and_bytes_tokens_and_keys(clock: ManualClock) -> None:
    token = enc({"a": 1})
    assert jwt.decode(token.encode(), HMAC_SECRET.encode(), algorithms=["HS256"]) == {"a": 1}
    assert jwt.decode(token, bytearray(HMAC_SECRET.encode()), algorithms=["HS256"]) == {"a": 1}
    assert jwt.decode(token, Key.hmac(HMAC_SECRET), algorithms=["HS256"]) == {"a": 1}


def test_wrong_key_is_invalid_signature(clock: ManualClock) -> None:
    token = enc({"a": 1})
    with pytest.raises(jwt.InvalidSignatureError) as e:
        jwt.decode(token, HMAC_SECRET[::-1], algorithms=["HS256"])
    assert isinstance(e.value, jwt.DecodeError)
    assert str(e.value) == "Signature verification failed"


def test_decode_complete(clock: ManualClock) -> None:
    token = enc({"a": 1}, headers={"kid": "x"})
    ours = jwt.decode_complete(token, HMAC_SECRET, algorithms=["HS256"], clock=clock)
    theirs = pyjwt.decode_complete(token, HMAC_SECRET, algorithms=["HS256"])
    assert ours == theirs
    assert isinstance(ours["signature"], bytes)


def test_get_unverified_header_does_not_verify() -> None:
    token = enc({"a": 1}, headers={"kid": "x"})
    assert jwt.get_unverified_header(token) == pyjwt.get_unverified_header(token)
    with pytest.raises(jwt.DecodeError):
        jwt.get_unverified_header("not-a-token")


def test_pyjwk_key_implies_algorithms() -> None:
    k = base64.urlsafe_b64encode(HMAC_SECRET.encode()).rstrip(b"=").decode()
    key = jwt.PyJWK({"kty": "oct", "k": k, "kid": "o1"})
    assert key.algorithm_name == "HS256"
    token = jwt.encode({"a": 1}, key)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    assert jwt.decode(token, key) == {"a": 1}
    other = jwt.encode({"a": 1}, Key.from_jwk(key._jwk_data), algorithm="HS512")
    with pytest.raises(jwt.InvalidAlgorithmError):
        jwt.decode(other, key, algorithms=["HS512"])


def test_extra_kwargs_and_verify_warn() -> None:
    token = enc({"a": 1})
    with pytest.warns(jwt.RemovedInPyjwt3Warning):
        jwt.decode(token, HMAC_SECRET, algorithms=["HS256"], foo=1)
    with pytest.warns(DeprecationWarning, match="verify"):
        jwt.decode(token, HMAC_SECRET, algorithms=["HS256"], verify=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        jwt.decode(token, HMAC_SECRET, algorithms=["HS256"], verify=True)


# ---- decode: claims ----------------------------------------------------------------------


def test_exp(clock: ManualClock) -> None:
    token = enc({"exp": NOW + 10})
    assert dec(token, clock) == {"exp": NOW + 10}
    clock.advance(10)
    with pytest.raises(jwt.ExpiredSignatureError, match="Signature has expired"):
        dec(token, clock)
    assert dec(token, clock, leeway=1) == {"exp": NOW + 10}
    assert dec(token, clock, leeway=dt.timedelta(seconds=1)) == {"exp": NOW + 10}
    assert dec(token, clock, options={"verify_exp": False}) == {"exp": NOW + 10}


def test_exp_boundary_matches_pyjwt() -> None:
    # PyJWT: expired when exp <= now - leeway.
    clock = ManualClock(NOW)
    token = enc({"exp": NOW})
    with pytest.raises(jwt.ExpiredSignatureError):
        dec(token, clock)
    clock.set(NOW - 0.5)
    assert dec(token, clock)


def test_nbf_and_iat_in_the_future(clock: ManualClock) -> None:
    with pytest.raises(jwt.ImmatureSignatureError, match="nbf"):
        dec(enc({"nbf": NOW + 5}), clock)
    with pytest.raises(jwt.ImmatureSignatureError, match="iat"):
        dec(enc({"iat": NOW + 5}), clock)
    assert dec(enc({"nbf": NOW + 5}), clock, leeway=5)
    assert dec(enc({"nbf": NOW + 5}), clock, options={"verify_nbf": False})
    assert dec(enc({"iat": NOW + 5}), clock, options={"verify_iat": False})


def test_claim_types(clock: ManualClock) -> None:
    with pytest.raises(jwt.InvalidIssuedAtError):
        dec(pyjwt.encode({"iat": "x"}, HMAC_SECRET), clock)
    with pytest.raises(jwt.DecodeError, match="exp"):
        dec(pyjwt.encode({"exp": "x"}, HMAC_SECRET), clock)
    with pytest.raises(jwt.DecodeError, match="nbf"):
        dec(pyjwt.encode({"nbf": []}, HMAC_SECRET), clock)
    with pytest.raises(jwt.InvalidSubjectError):
        dec(pyjwt.encode({"sub": 1}, HMAC_SECRET), clock)
    with pytest.raises(jwt.InvalidJTIError):
        dec(pyjwt.encode({"jti": 1}, HMAC_SECRET), clock)


def test_require(clock: ManualClock) -> None:
    token = enc({"sub": "a"})
    with pytest.raises(jwt.MissingRequiredClaimError) as e:
        dec(token, clock, options={"require": ["sub", "exp"]})
    assert e.value.claim == "exp"
    assert str(e.value) == 'Token is missing the "exp" claim'
    assert dec(token, clock, options={"require": ["sub"]}) == {"sub": "a"}
    # PyJWT's default: nothing required.
    assert dec(token, clock) == {"sub": "a"}


def test_audience(clock: ManualClock) -> None:
    token = enc({"aud": ["a", "b"]})
    assert dec(token, clock, audience="b")
    assert dec(token, clock, audience=["x", "a"])
    assert dec(token, clock, audience={"a"})
    with pytest.raises(jwt.InvalidAudienceError):
        dec(token, clock, audience="c")
    with pytest.raises(jwt.InvalidAudienceError):
        dec(token, clock)  # the token names audiences, the verifier none
    assert dec(token, clock, options={"verify_aud": False})
    with pytest.raises(jwt.MissingRequiredClaimError) as e:
        dec(enc({"a": 1}), clock, audience="a")
    assert e.value.claim == "aud"
    with pytest.raises(jwt.InvalidAudienceError):
        dec(pyjwt.encode({"aud": 1}, HMAC_SECRET), clock, audience="a")


def test_strict_aud(clock: ManualClock) -> None:
    opts = {"strict_aud": True}
    assert dec(enc({"aud": "a"}), clock, audience="a", options=opts)
    with pytest.raises(jwt.InvalidAudienceError):
        dec(enc({"aud": ["a"]}), clock, audience="a", options=opts)
    with pytest.raises(jwt.InvalidAudienceError):
        dec(enc({"aud": "b"}), clock, audience="a", options=opts)


def test_issuer(clock: ManualClock) -> None:
    token = enc({"iss": "https://idp"})
    assert dec(token, clock, issuer="https://idp")
    assert dec(token, clock, issuer=["x", "https://idp"])
    with pytest.raises(jwt.InvalidIssuerError):
        dec(token, clock, issuer="https://other")
    with pytest.raises(jwt.MissingRequiredClaimError):
        dec(enc({"a": 1}), clock, issuer="https://idp")
    assert dec(token, clock, issuer="other", options={"verify_iss": False})


def test_subject(clock: ManualClock) -> None:
    token = enc({"sub": "u1"})
    assert dec(token, clock, subject="u1")
    with pytest.raises(jwt.InvalidSubjectError):
        dec(token, clock, subject="u2")
    assert dec(token, clock, subject="u2", options={"verify_sub": False})


def test_verify_signature_false(clock: ManualClock) -> None:
    expired = enc({"exp": NOW - 100, "aud": "x"})
    opts = {"verify_signature": False}
    # No algorithms, no key, no claim checks unless asked for.
    assert jwt.decode(expired, options=opts, clock=clock) == {"exp": NOW - 100, "aud": "x"}
    assert jwt.decode(expired, "wrong", options=opts) == {"exp": NOW - 100, "aud": "x"}
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(expired, options={**opts, "verify_exp": True}, clock=clock)
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(expired, options={**opts, "verify_aud": True}, audience="y", clock=clock)
    with pytest.raises(jwt.MissingRequiredClaimError):
        jwt.decode(expired, options={**opts, "require": ["sub"]}, clock=clock)
    # Malformed tokens are still refused.
    with pytest.raises(jwt.DecodeError):
        jwt.decode("a.b.c", options=opts)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_minimum_key_length(clock: ManualClock) -> None:
    weak = "short-secret"
    token = pyjwt.encode({"a": 1}, weak, algorithm="HS256")
    with pytest.raises(jwt.InvalidKeyError):
        jwt.decode(token, weak, algorithms=["HS256"])
    with pytest.raises(jwt.InvalidKeyError):
        jwt.encode({"a": 1}, weak)
    opts = {"enforce_minimum_key_length": False}
    assert jwt.decode(token, weak, algorithms=["HS256"], options=opts) == {"a": 1}
    relaxed = jwt.PyJWT(options=opts)
    assert relaxed.decode(relaxed.encode({"a": 1}, weak), weak, algorithms=["HS256"]) == {"a": 1}


def test_pyjwt_class_options(clock: ManualClock) -> None:
    token = enc({"exp": NOW - 1})
    lenient = jwt.PyJWT(options={"verify_exp": False})
    assert lenient.decode(token, HMAC_SECRET, algorithms=["HS256"], clock=clock) == {"exp": NOW - 1}
    with pytest.raises(jwt.ExpiredSignatureError):
        lenient.decode(token, HMAC_SECRET, algorithms=["HS256"], options={"verify_exp": True}, clock=clock)
    complete = lenient.decode_complete(token, HMAC_SECRET, algorithms=["HS256"], clock=clock)
    assert complete["header"]["alg"] == "HS256"
    assert jwt.PyJWT().options == {**pyjwt.PyJWT().options, "enforce_minimum_key_length": True}


def test_asymmetric_key_is_never_an_hmac_secret(rsa_pair: Any) -> None:
    pem = rsa_pair.public_pem
    forged = pyjwt.api_jws.PyJWS().encode(b'{"a":1}', HMAC_SECRET, "HS256")  # any HS256 token
    for key in (pem, pem.decode(), b"\n" + pem, rsa_pair.public_ssh):
        with pytest.raises(jwt.InvalidKeyError):
            jwt.decode(forged, key, algorithms=["HS256"])
    # With RSA allowed too, the PEM is an RSA key, which an HS256 token cannot use.
    with pytest.raises(jwt.InvalidAlgorithmError):
        jwt.decode(forged, pem, algorithms=["HS256", "RS256"])


def test_rs_token_with_mixed_algorithms_uses_the_key_family(rsa_pair: Any) -> None:
    token = jwt.encode({"a": 1}, rsa_pair.private, algorithm="RS256")
    assert jwt.decode(token, rsa_pair.public_pem, algorithms=["HS256", "RS256"]) == {"a": 1}


def test_cryptography_keys_are_accepted_and_cached() -> None:
    pair = ASYMMETRIC["ES256"]
    token = jwt.encode({"a": 1}, pair.private, algorithm="ES256")
    for _ in range(3):
        assert jwt.decode(token, pair.public, algorithms=["ES256"]) == {"a": 1}
    assert jwt.decode(token, pair.private, algorithms=["ES256"]) == {"a": 1}
    with pytest.raises(TypeError):
        jwt.decode(token, object(), algorithms=["ES256"])


# ---- exceptions ----------------------------------------------------------------------------


PYJWT_NAMES = [
    "PyJWTError",
    "InvalidTokenError",
    "DecodeError",
    "InvalidSignatureError",
    "ExpiredSignatureError",
    "InvalidAudienceError",
    "InvalidIssuerError",
    "InvalidIssuedAtError",
    "ImmatureSignatureError",
    "InvalidKeyError",
    "InvalidAlgorithmError",
    "MissingRequiredClaimError",
    "PyJWKError",
    "PyJWKSetError",
    "InvalidSubjectError",
    "InvalidJTIError",
]


def test_exception_hierarchy_matches_pyjwt() -> None:
    for a in PYJWT_NAMES:
        for b in PYJWT_NAMES:
            ours = issubclass(getattr(jwt, a), getattr(jwt, b))
            theirs = issubclass(getattr(pyjwt.exceptions, a), getattr(pyjwt.exceptions, b))
            assert ours == theirs, (a, b)
        assert issubclass(getattr(jwt, a), BastionError)
        assert getattr(jwt.exceptions, a) is getattr(jwt, a)


def test_exceptions_also_subclass_builtins() -> None:
    assert issubclass(jwt.InvalidTokenError, ValueError)
    assert issubclass(jwt.DecodeError, ValueError)
    assert issubclass(jwt.InvalidKeyError, ValueError)
    try:
        jwt.decode("x", HMAC_SECRET, algorithms=["HS256"])
    except ValueError as e:
        assert isinstance(e, jwt.DecodeError)
        assert e.code == "MALFORMED_TOKEN"  # type: ignore[attr-defined]


def test_error_codes(clock: ManualClock) -> None:
    cases = [
        (lambda: dec(enc({"exp": NOW - 1}), clock), "TOKEN_EXPIRED"),
        (lambda: dec(enc({"nbf": NOW + 99}), clock), "TOKEN_NOT_YET_VALID"),
        (lambda: dec(enc({"a": 1}), clock, options={"require": ["x"]}), "MISSING_CLAIM"),
        (lambda: jwt.decode(enc({"a": 1}), HMAC_SECRET[1:], algorithms=["HS256"]), "INVALID_SIGNATURE"),
        (lambda: dec(enc({"a": 1}), clock, algorithms=["HS512"]), "INVALID_ALGORITHM"),
        (lambda: jwt.decode(enc({"a": 1}), "short", algorithms=["HS256"]), "INVALID_KEY"),
    ]
    for call, code in cases:
        with pytest.raises(BastionError) as e:
            call()
        assert e.value.code == code


# ---- PyJWK / PyJWKSet -----------------------------------------------------------------------


def _jwk(alg: str, private: bool = False) -> dict[str, Any]:
    pair = ASYMMETRIC[alg]
    algo = pyjwt.get_algorithm_by_name(alg)
    return json.loads(algo.to_jwk(pair.private if private else pair.public))


def test_pyjwk_from_every_kind() -> None:
    for alg in ("RS256", "ES256", "ES384", "ES512", "ES256K", "EdDSA"):
        public = jwt.PyJWK(_jwk(alg))
        private = jwt.PyJWK.from_json(json.dumps(_jwk(alg, private=True)))
        expected = {"ES256K": "ES256K"}.get(alg, alg)
        assert public.algorithm_name == expected
        assert public.key_type in ("RSA", "EC", "OKP")
        assert private.key.can_sign and not public.key.can_sign
        token = jwt.encode({"a": 1}, private)
        assert jwt.decode(token, public) == {"a": 1}
        assert pyjwt.decode(token, pyjwt.PyJWK(_jwk(alg)), algorithms=[expected]) == {"a": 1}


def test_pyjwk_algorithm_argument_and_errors() -> None:
    rsa_jwk = _jwk("RS256")
    assert jwt.PyJWK(rsa_jwk, algorithm="PS384").algorithm_name == "PS384"
    assert jwt.PyJWK({**rsa_jwk, "alg": "RS512"}).key.algorithm == "RS512"
    with pytest.raises(jwt.InvalidKeyError, match="kty"):
        jwt.PyJWK({"n": "x"})
    with pytest.raises(jwt.PyJWKError):
        jwt.PyJWK(rsa_jwk, algorithm="XX999")
    with pytest.raises(jwt.InvalidKeyError):
        jwt.PyJWK({"kty": "RSA", "n": "AQAB", "e": "AQAB"})


def test_pyjwkset() -> None:
    keys = [
        {**_jwk("RS256"), "kid": "r"},
        {**_jwk("ES256"), "kid": "e"},
        {"kty": "unknown", "kid": "skipped"},
        "not-a-dict",
    ]
    jwks = jwt.PyJWKSet.from_dict({"keys": keys})
    assert [k.key_id for k in jwks] == ["r", "e"]
    assert jwks["e"].algorithm_name == "ES256"
    with pytest.raises(KeyError):
        jwks["missing"]
    assert len(jwt.PyJWKSet.from_json(json.dumps({"keys": keys}))) == 2
    with pytest.raises(jwt.PyJWKSetError):
        jwt.PyJWKSet([])
    with pytest.raises(jwt.PyJWKSetError):
        jwt.PyJWKSet([{"kty": "nope"}])
