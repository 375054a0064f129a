"""Typed keys from every form, their properties, and their guarantees."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import jwt as pyjwt
import pytest
from bastion import InvalidAlgorithmError, InvalidKeyError, Key, Verifier, sign
from bastion.jwt import decode
from conftest import ASYMMETRIC, HMAC_SECRET, KeyPair
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization as ser
from cryptography.x509.oid import NameOID

FAMILIES = {
    "RS256": "RSA",
    "ES256": "EC P-256",
    "ES384": "EC P-384",
    "ES512": "EC P-521",
    "ES256K": "EC secp256k1",
    "EdDSA": "Ed25519",
}


def roundtrip(private: Key, public: Key, alg: str) -> None:
    token = sign({"sub": "x", "exp": 4_000_000_000}, private, alg)
    assert Verifier(public, [alg]).decode(token) == {"sub": "x", "exp": 4_000_000_000}
    assert pyjwt.decode(token, ASYMMETRIC[alg].public, algorithms=[alg])["sub"] == "x"


def _jwk(pair: KeyPair, private: bool) -> dict[str, Any]:
    algo = pyjwt.get_algorithm_by_name(pair.alg)
    return json.loads(algo.to_jwk(pair.private if private else pair.public))


@pytest.mark.parametrize("alg", list(FAMILIES))
def test_pem_der_jwk_ssh(alg: str) -> None:
    pair = ASYMMETRIC[alg]
    family = FAMILIES[alg]
    private_pem = Key.from_pem(pair.private_pem)
    public_pem = Key.from_pem(pair.public_pem.decode())
    assert private_pem.family == public_pem.family == family
    assert private_pem.can_sign and not public_pem.can_sign
    roundtrip(private_pem, public_pem, alg)

    private_der = Key.from_der(pair.private_der)
    public_der = Key.from_der(pair.public_der)
    roundtrip(private_der, public_der, alg)

    for private in (False, True):
        jwk = _jwk(pair, private)
        for form in (jwk, json.dumps(jwk), json.dumps(jwk).encode()):
            key = Key.from_jwk(form)
            assert key.family == family
            assert key.can_sign is private
    roundtrip(Key.from_jwk(_jwk(pair, True)), Key.from_jwk(_jwk(pair, False)), alg)

    if alg != "ES256K":  # OpenSSH has no secp256k1 key type
        ssh = Key.from_ssh(pair.public_ssh)
        assert ssh.family == family and not ssh.can_sign
        roundtrip(private_pem, Key.from_ssh(pair.public_ssh.decode()), alg)

    for material in (pair.private_pem, pair.public_pem, pair.public_der, json.dumps(_jwk(pair, False))):
        assert Key.from_material(material).family == family
        assert Key.from_material(material, [alg]).family == family


def test_traditional_openssl_forms() -> None:
    rsa_pair = ASYMMETRIC["RS256"]
    pkcs1 = rsa_pair.private.private_bytes(
        ser.Encoding.PEM, ser.PrivateFormat.TraditionalOpenSSL, ser.NoEncryption()
    )
    assert pkcs1.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    pkcs1_public = rsa_pair.public.public_bytes(ser.Encoding.PEM, ser.PublicFormat.PKCS1)
    assert pkcs1_public.startswith(b"-----BEGIN RSA PUBLIC KEY-----")
    roundtrip(Key.from_pem(pkcs1), Key.from_pem(pkcs1_public), "RS256")
    roundtrip(
        Key.from_der(
            rsa_pair.private.private_bytes(
                ser.Encoding.DER, ser.PrivateFormat.TraditionalOpenSSL, ser.NoEncryption()
            )
        ),
        Key.from_der(rsa_pair.public.public_bytes(ser.Encoding.DER, ser.PublicFormat.PKCS1)),
        "RS256",
    )
    ec_pair = ASYMMETRIC["ES384"]
    sec1 = ec_pair.private.private_bytes(
        ser.Encoding.PEM, ser.PrivateFormat.TraditionalOpenSSL, ser.NoEncryption()
    )
    assert sec1.startswith(b"-----BEGIN EC PRIVATE KEY-----")
    roundtrip(Key.from_pem(sec1), Key.from_pem(ec_pair.public_pem), "ES384")


def test_certificate() -> None:
    pair = ASYMMETRIC["ES256"]
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bastion test")])
    now = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(pair.public)
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(pair.private, hashes.SHA256())
    )
    key = Key.from_pem(cert.public_bytes(ser.Encoding.PEM))
    assert key.family == "EC P-256" and not key.can_sign
    roundtrip(Key.from_pem(pair.private_pem), key, "ES256")
    roundtrip(Key.from_pem(pair.private_pem), Key.from_der(cert.public_bytes(ser.Encoding.DER)), "ES256")
    # A cryptography certificate object works as a PyJWT-style key too.
    token = sign({"a": 1}, Key.from_pem(pair.private_pem), "ES256")
    assert decode(token, cert, algorithms=["ES256"]) == {"a": 1}


def test_hmac() -> None:
    for secret in (HMAC_SECRET, HMAC_SECRET.encode()):
        key = Key.hmac(secret)
        assert key.family == "HMAC" and key.can_sign
        assert key.algorithms == ["HS256", "HS384", "HS512"]
        assert key.algorithm is None
    assert Key.from_material(HMAC_SECRET).family == "HMAC"
    assert Key.from_material(HMAC_SECRET, ["HS256"]).family == "HMAC"
    with pytest.raises(InvalidKeyError):
        Key.from_material(HMAC_SECRET, ["RS256"])
    with pytest.raises(InvalidKeyError):
        Key.hmac("")
    with pytest.raises(InvalidKeyError):
        Key.public_jwk(Key.hmac(HMAC_SECRET))


def test_hmac_refuses_key_material() -> None:
    pair = ASYMMETRIC["RS256"]
    for material in (
        pair.public_pem,
        b"junk" + pair.public_pem,
        pair.public_ssh,
        pair.public_der,
        json.dumps(_jwk(pair, False)),
    ):
        with pytest.raises(InvalidKeyError):
            Key.hmac(material)
        with pytest.raises(InvalidKeyError):
            Key.from_material(material, ["HS256"])


def test_properties_and_restriction() -> None:
    pair = ASYMMETRIC["RS256"]
    key = Key.from_pem(pair.public_pem)
    assert key.algorithms == ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]
    assert key.kid is None and key.algorithm is None
    jwk = {**_jwk(pair, False), "kid": "r1", "alg": "PS256"}
    restricted = Key.from_jwk(jwk)
    assert restricted.kid == "r1"
    assert restricted.algorithm == "PS256"
    assert restricted.algorithms == ["PS256"]
    assert Key.from_jwk(_jwk(pair, False), "RS512").algorithms == ["RS512"]
    with pytest.raises(InvalidAlgorithmError):
        Key.from_jwk(_jwk(pair, False), "ES256")
    with pytest.raises(InvalidKeyError):
        Key.from_jwk({**_jwk(pair, False), "alg": "ES256"})
    with pytest.raises(InvalidKeyError):
        Key.from_jwk({**_jwk(pair, False), "use": "enc"})


def test_public_jwk_matches_pyjwt() -> None:
    for alg in FAMILIES:
        pair = ASYMMETRIC[alg]
        expected = _jwk(pair, False)
        ours = Key.from_pem(pair.private_pem).public_jwk()
        assert ours.pop("use") == "sig"
        for member in ("kty", "n", "e", "crv", "x", "y"):
            assert ours.get(member) == expected.get(member), (alg, member)
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(ours)
        # The published JWK verifies the key's tokens.
        roundtrip(
            Key.from_pem(pair.private_pem), Key.from_jwk(Key.from_pem(pair.private_pem).public_jwk()), alg
        )


def test_with_kid() -> None:
    key = Key.from_pem(ASYMMETRIC["EdDSA"].private_pem)
    tagged = key.with_kid("ed-1")
    assert key.kid is None and tagged.kid == "ed-1"
    assert tagged.public_jwk()["kid"] == "ed-1"
    token = sign({"a": 1}, tagged, "EdDSA")
    assert pyjwt.get_unverified_header(token)["kid"] == "ed-1"
    assert pyjwt.get_unverified_header(sign({"a": 1}, tagged, "EdDSA", kid="other"))["kid"] == "other"


def test_repr_shows_no_material() -> None:
    key = Key.hmac(HMAC_SECRET).with_kid("k1")
    assert repr(key) == "<Key family='HMAC' kid='k1'>"
    private = Key.from_pem(ASYMMETRIC["RS256"].private_pem)
    assert "BEGIN" not in repr(private) and repr(private) == "<Key family='RSA'>"


def test_keys_are_immutable() -> None:
    key = Key.hmac(HMAC_SECRET)
    with pytest.raises(AttributeError):
        key.kid = "x"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        key.other = 1  # type: ignore[attr-defined]


def test_weak_and_unsupported_keys_are_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric import ed448, rsa

    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(InvalidKeyError):
        Key.from_pem(small.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption()))
    ed = ed448.Ed448PrivateKey.generate()
    with pytest.raises(InvalidKeyError):
        Key.from_pem(ed.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption()))
    encrypted = ASYMMETRIC["ES256"].private.private_bytes(
        ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.BestAvailableEncryption(b"pw")
    )
    with pytest.raises(InvalidKeyError):
        Key.from_pem(encrypted)
    public = Key.from_pem(ASYMMETRIC["ES256"].public_pem)
    with pytest.raises(InvalidKeyError, match="private key"):
        sign({"a": 1}, public, "ES256")
