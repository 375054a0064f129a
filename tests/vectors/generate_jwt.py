#!/usr/bin/env python3
"""Generate ``tests/vectors/jwt.json``: bastion's own JWT verification vectors.

The Rust, Python and Node suites all execute the same file, so every case states
the exact verifier configuration and the one outcome every language must agree
on (``"valid"`` plus the claims, or a stable error code).

Tokens are assembled by hand (base64url of JSON bytes written here) so that
malformed and hostile tokens can be produced; keys are generated fresh on every
run with ``cryptography`` and only their public halves (and HMAC secrets) are
written out. The structure of the output (key names, case names, order,
expectations) is the same on every run; key material, signatures and a few
search-derived filler values change.

Usage (dependencies: ``cryptography``; ``PyJWT[crypto]`` for the sanity check)::

    python3 -m venv /tmp/vecvenv
    /tmp/vecvenv/bin/pip install "pyjwt[crypto]" cryptography
    /tmp/vecvenv/bin/python tests/vectors/generate_jwt.py            # writes jwt.json, checks with PyJWT
    /tmp/vecvenv/bin/python tests/vectors/generate_jwt.py --no-check # skip the PyJWT cross-check
    /tmp/vecvenv/bin/python tests/vectors/generate_jwt.py --differential  # also list the
                                                                     # negative cases PyJWT accepts

See ``tests/vectors/README.md`` for the schema.
"""

from __future__ import annotations

import argparse
import base64
import datetime as _dt
import hashlib
import hmac
import json
import re
import secrets
import string
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

HERE = Path(__file__).resolve().parent
OUT = HERE / "jwt.json"

NOW = 1_700_000_000  # 2023-11-14T22:13:20Z: the fixed clock of every case
TEN_YEARS = 10 * 365 * 24 * 3600
FAR = NOW + TEN_YEARS  # exp of "valid" tokens: also valid against real clocks until 2033
DEFAULT_MAX = 8192  # the engine's default max_token_size

ERROR_CODES = {
    "MALFORMED_TOKEN",
    "INVALID_ALGORITHM",
    "INVALID_SIGNATURE",
    "INVALID_KEY",
    "TOKEN_EXPIRED",
    "TOKEN_NOT_YET_VALID",
    "INVALID_ISSUED_AT",
    "INVALID_AUDIENCE",
    "INVALID_ISSUER",
    "INVALID_SUBJECT",
    "INVALID_JTI",
    "INVALID_TOKEN_TYPE",
    "MISSING_CLAIM",
}

# ---------------------------------------------------------------------------------------------
# encoding helpers


def b64u(data: bytes) -> str:
    """Strict unpadded base64url (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64_std(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def jbytes(obj: Any) -> bytes:
    """Compact JSON, UTF-8, members in insertion order."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def to_bytes(part: Any) -> bytes:
    """A header/payload given as raw bytes, raw JSON text, or a JSON value."""
    if isinstance(part, bytes):
        return part
    if isinstance(part, str):
        return part.encode("utf-8")
    return jbytes(part)


def seg(part: Any) -> str:
    return b64u(to_bytes(part))


# ---------------------------------------------------------------------------------------------
# keys

HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
HASHLIB = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}
CURVE_BYTES = {"P-256": 32, "P-384": 48, "P-521": 66, "secp256k1": 32}
CURVE_ORDER = {
    "P-256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
}


def int_b64u(n: int, length: int | None = None) -> str:
    length = length or max(1, (n.bit_length() + 7) // 8)
    return b64u(n.to_bytes(length, "big"))


def pem_public(key: Any) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def der_public(key: Any) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def ssh_public(key: Any, comment: str) -> str:
    line = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode("ascii")
    )
    return f"{line} {comment}"


def jwk_public(key: Any, kid: str) -> dict[str, str]:
    pub = key.public_key()
    if isinstance(pub, rsa.RSAPublicKey):
        nums = pub.public_numbers()
        return {"kty": "RSA", "kid": kid, "n": int_b64u(nums.n), "e": int_b64u(nums.e)}
    if isinstance(pub, ec.EllipticCurvePublicKey):
        crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521", "secp256k1": "secp256k1"}[
            pub.curve.name
        ]
        size = CURVE_BYTES[crv]
        nums = pub.public_numbers()
        return {"kty": "EC", "kid": kid, "crv": crv, "x": int_b64u(nums.x, size), "y": int_b64u(nums.y, size)}
    if isinstance(pub, ed25519.Ed25519PublicKey):
        raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": b64u(raw)}
    raise TypeError(pub)


def self_signed_cert(key: Any, cn: str) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_dt.datetime(2023, 1, 1, tzinfo=_dt.timezone.utc))
        .not_valid_after(_dt.datetime(2043, 1, 1, tzinfo=_dt.timezone.utc))
        .sign(key, hashes.SHA256())
    )


def random_text_secret(n: int) -> str:
    alphabet = string.ascii_letters + string.digits + "-_"
    return "".join(secrets.choice(alphabet) for _ in range(n))


class Keys:
    """Fresh key pairs, and the named key materials written to the vectors."""

    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.rsa_other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.attacker_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec256 = ec.generate_private_key(ec.SECP256R1())
        self.ec384 = ec.generate_private_key(ec.SECP384R1())
        self.ec521 = ec.generate_private_key(ec.SECP521R1())
        self.k256 = ec.generate_private_key(ec.SECP256K1())
        self.attacker_ec256 = ec.generate_private_key(ec.SECP256R1())
        self.ed = ed25519.Ed25519PrivateKey.generate()

        self.hs256 = secrets.token_bytes(32)
        self.hs384 = secrets.token_bytes(48)
        self.hs512 = secrets.token_bytes(64)
        self.hs_other = secrets.token_bytes(32)
        self.hs_short = secrets.token_bytes(31)
        self.hs_text = random_text_secret(64)
        self.attacker_secret = secrets.token_bytes(32)

        self.rsa_cert = self_signed_cert(self.rsa, "bastion vectors")
        self.attacker_cert = self_signed_cert(self.attacker_rsa, "attacker")

        def hmac_hex(secret: bytes) -> dict[str, Any]:
            return {"kind": "hmac", "secret_hex": secret.hex(), "family": "HMAC"}

        def pem(key: Any, family: str) -> dict[str, Any]:
            return {"kind": "pem", "pem": pem_public(key), "family": family}

        def der(key: Any, family: str) -> dict[str, Any]:
            return {"kind": "der_b64", "der_b64": b64_std(der_public(key)), "family": family}

        def jwk(key: Any, kid: str, family: str) -> dict[str, Any]:
            return {"kind": "jwk", "jwk": jwk_public(key, kid), "family": family}

        def ssh(key: Any, family: str) -> dict[str, Any]:
            return {"kind": "ssh", "ssh": ssh_public(key, "vectors@bastion"), "family": family}

        rsa_pkcs1_pem = (
            self.rsa.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
            .decode("ascii")
        )
        cert_pem = self.rsa_cert.public_bytes(serialization.Encoding.PEM).decode("ascii")

        self.entries: dict[str, dict[str, Any]] = {
            "hs256": hmac_hex(self.hs256),
            "hs384": hmac_hex(self.hs384),
            "hs512": hmac_hex(self.hs512),
            "hs-text": {"kind": "hmac", "secret": self.hs_text, "family": "HMAC"},
            "hs256-jwk": {
                "kind": "jwk",
                "jwk": {"kty": "oct", "kid": "hs-1", "k": b64u(self.hs256)},
                "family": "HMAC",
            },
            "hs-other": hmac_hex(self.hs_other),
            "hs-short": hmac_hex(self.hs_short),
            "rsa-pem": pem(self.rsa, "RSA"),
            "rsa-pkcs1-pem": {"kind": "pem", "pem": rsa_pkcs1_pem, "family": "RSA"},
            "rsa-cert-pem": {"kind": "pem", "pem": cert_pem, "family": "RSA"},
            "rsa-jwk": jwk(self.rsa, "rsa-1", "RSA"),
            "rsa-der": der(self.rsa, "RSA"),
            "rsa-ssh": ssh(self.rsa, "RSA"),
            "rsa-other-pem": pem(self.rsa_other, "RSA"),
            "ec256-pem": pem(self.ec256, "EC P-256"),
            "ec256-jwk": jwk(self.ec256, "ec256-1", "EC P-256"),
            "ec256-der": der(self.ec256, "EC P-256"),
            "ec256-ssh": ssh(self.ec256, "EC P-256"),
            "ec384-pem": pem(self.ec384, "EC P-384"),
            "ec384-ssh": ssh(self.ec384, "EC P-384"),
            "ec521-pem": pem(self.ec521, "EC P-521"),
            "ec521-jwk": jwk(self.ec521, "ec521-1", "EC P-521"),
            "secp256k1-pem": pem(self.k256, "EC secp256k1"),
            "secp256k1-jwk": jwk(self.k256, "k256-1", "EC secp256k1"),
            "ed25519-pem": pem(self.ed, "Ed25519"),
            "ed25519-jwk": jwk(self.ed, "ed-1", "Ed25519"),
            "ed25519-der": der(self.ed, "Ed25519"),
            "ed25519-ssh": ssh(self.ed, "Ed25519"),
            # Public-key text handed to the *typed HMAC* constructor: must be refused.
            "rsa-pem-as-hmac-secret": {"kind": "hmac", "secret": pem_public(self.rsa), "family": "HMAC"},
            "rsa-b64der-as-hmac-secret": {
                "kind": "hmac",
                "secret": b64_std(der_public(self.rsa)),
                "family": "HMAC",
            },
            "rsa-ssh-as-hmac-secret": {
                "kind": "hmac",
                "secret": ssh_public(self.rsa, "vectors@bastion"),
                "family": "HMAC",
            },
        }

    def material(self, name: str, prefix: str = "") -> bytes:
        """The bytes a material-mode verifier is handed for key ``name`` (see README)."""
        e = self.entries[name]
        kind = e["kind"]
        if kind == "pem":
            raw = e["pem"].encode("utf-8")
        elif kind == "der_b64":
            raw = base64.b64decode(e["der_b64"])
        elif kind == "jwk":
            raw = jbytes(e["jwk"])
        elif kind == "ssh":
            raw = e["ssh"].encode("utf-8")
        elif kind == "hmac":
            raw = e["secret"].encode("utf-8") if "secret" in e else bytes.fromhex(e["secret_hex"])
        else:
            raise ValueError(kind)
        return prefix.encode("utf-8") + raw


# ---------------------------------------------------------------------------------------------
# signing


def ec_raw(der_sig: bytes, size: int) -> bytes:
    r, s = decode_dss_signature(der_sig)
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def sign(alg: str, key: Any, data: bytes) -> bytes:
    """The JWS signature of ``data`` with ``alg``; ``key`` is a private key or HMAC secret bytes."""
    if alg.startswith("HS"):
        return hmac.new(key, data, HASHLIB[alg[2:]]).digest()
    if alg.startswith("RS"):
        return key.sign(data, padding.PKCS1v15(), HASHES[alg[2:]]())
    if alg.startswith("PS"):
        h = HASHES[alg[2:]]()
        return key.sign(data, padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size), h)
    if alg == "ES256K":
        return ec_raw(key.sign(data, ec.ECDSA(hashes.SHA256())), 32)
    if alg.startswith("ES"):
        size = {"256": 32, "384": 48, "512": 66}[alg[2:]]
        return ec_raw(key.sign(data, ec.ECDSA(HASHES[alg[2:]]())), size)
    if alg == "EdDSA":
        return key.sign(data)
    raise ValueError(alg)


def jws(
    header: Any,
    payload: Any,
    alg: str | None = None,
    key: Any = None,
    *,
    raw_header: str | None = None,
    raw_payload: str | None = None,
) -> str:
    """A compact JWS. ``header``/``payload`` are JSON values, JSON text or raw bytes.
    ``raw_header``/``raw_payload`` replace the encoded segment text verbatim (for
    base64 malformations); the signature is always computed over the literal
    signing input as it appears in the token, so only the malformation can fail."""
    h = raw_header if raw_header is not None else seg(header)
    p = raw_payload if raw_payload is not None else seg(payload)
    signing_input = f"{h}.{p}"
    if alg is None:
        return f"{signing_input}."
    return f"{signing_input}.{b64u(sign(alg, key, signing_input.encode('utf-8')))}"


def claims(**extra: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"sub": "user-1", "iat": NOW, "exp": FAR}
    for k, v in extra.items():
        if v is _DROP:
            c.pop(k, None)
        else:
            c[k] = v
    return c


_DROP = object()


def hdr(alg: str, **extra: Any) -> dict[str, Any]:
    h: dict[str, Any] = {"alg": alg, "typ": "JWT"}
    h.update(extra)
    return h


# ---------------------------------------------------------------------------------------------
# cases

KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


class Cases:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.names: set[str] = set()

    def add(
        self,
        name: str,
        cls: str,
        token: str | dict[str, Any],
        key: str,
        algorithms: list[str],
        expect: str,
        *,
        claims: Any = None,
        key_mode: str = "typed",
        material_prefix: str | None = None,
        leeway: float = 0,
        audience: list[str] | None = None,
        issuer: list[str] | None = None,
        subject: str | None = None,
        required: list[str] | None = None,
        typ: str | None = None,
        max_token_size: int | None = None,
        critical_extensions: list[str] | None = None,
        now: float | None = None,
        note: str | None = None,
    ) -> None:
        if not KEBAB.match(name):
            raise ValueError(f"case name {name!r} is not kebab-case")
        if name in self.names:
            raise ValueError(f"duplicate case name {name!r}")
        if expect != "valid" and expect not in ERROR_CODES:
            raise ValueError(f"{name}: unknown expect {expect!r}")
        if (expect == "valid") != (claims is not None):
            raise ValueError(f"{name}: valid cases need claims, error cases must not have them")
        self.names.add(name)
        case: dict[str, Any] = {"name": name, "class": cls}
        if isinstance(token, dict):
            case["token_repeat"] = token
        else:
            case["token"] = token
        case["key"] = key
        case["key_mode"] = key_mode
        if material_prefix is not None:
            if key_mode != "material":
                raise ValueError(f"{name}: material_prefix needs key_mode material")
            case["material_prefix"] = material_prefix
        case["algorithms"] = algorithms
        case["leeway"] = leeway
        case["audience"] = audience
        case["issuer"] = issuer
        case["subject"] = subject
        case["required"] = ["exp"] if required is None else required
        if typ is not None:
            case["typ"] = typ
        if max_token_size is not None:
            case["max_token_size"] = max_token_size
        if critical_extensions is not None:
            case["critical_extensions"] = critical_extensions
        if now is not None:
            case["now"] = now
        case["expect"] = expect
        if claims is not None:
            case["claims"] = claims
        if note:
            case["note"] = note
        self.items.append(case)


def claims_of(token: str) -> Any:
    """The claims object a verifier must return for ``token`` (parsed from its payload)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def build(k: Keys) -> Cases:
    cs = Cases()
    HS_KEY = {"HS256": ("hs256", k.hs256), "HS384": ("hs384", k.hs384), "HS512": ("hs512", k.hs512)}

    def valid(name: str, cls: str, tok: str, key: str, algs: list[str], **kw: Any) -> None:
        cs.add(name, cls, tok, key, algs, "valid", claims=claims_of(tok), **kw)

    def hs(
        header: Any = None, payload: Any = None, secret: bytes | None = None, alg: str = "HS256", **kw: Any
    ) -> str:
        return jws(
            hdr(alg) if header is None else header,
            claims() if payload is None else payload,
            alg,
            k.hs256 if secret is None else secret,
            **kw,
        )

    # ---- valid: every algorithm, typed keys in every form ------------------------------------
    for alg in ("HS256", "HS384", "HS512"):
        name, secret = HS_KEY[alg]
        valid(f"valid-{alg.lower()}-hmac-hex", "valid", jws(hdr(alg), claims(), alg, secret), name, [alg])
    valid(
        "valid-hs256-hmac-text-secret",
        "valid",
        jws(hdr("HS256"), claims(), "HS256", k.hs_text.encode()),
        "hs-text",
        ["HS256"],
    )
    valid(
        "valid-hs512-hmac-text-secret",
        "valid",
        jws(hdr("HS512"), claims(), "HS512", k.hs_text.encode()),
        "hs-text",
        ["HS512"],
        note="a 64-byte text secret is long enough for HS512",
    )
    valid(
        "valid-hs256-oct-jwk", "valid", jws(hdr("HS256"), claims(), "HS256", k.hs256), "hs256-jwk", ["HS256"]
    )
    for alg in ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"):
        valid(f"valid-{alg.lower()}-pem", "valid", jws(hdr(alg), claims(), alg, k.rsa), "rsa-pem", [alg])
    for keyname in ("rsa-pkcs1-pem", "rsa-cert-pem", "rsa-jwk", "rsa-der", "rsa-ssh"):
        form = keyname.removeprefix("rsa-")
        valid(f"valid-rs256-{form}", "valid", jws(hdr("RS256"), claims(), "RS256", k.rsa), keyname, ["RS256"])
    valid("valid-ps256-jwk", "valid", jws(hdr("PS256"), claims(), "PS256", k.rsa), "rsa-jwk", ["PS256"])
    for keyname in ("ec256-pem", "ec256-jwk", "ec256-der", "ec256-ssh"):
        valid(
            f"valid-es256-{keyname.removeprefix('ec256-')}",
            "valid",
            jws(hdr("ES256"), claims(), "ES256", k.ec256),
            keyname,
            ["ES256"],
        )
    for keyname in ("ec384-pem", "ec384-ssh"):
        valid(
            f"valid-es384-{keyname.removeprefix('ec384-')}",
            "valid",
            jws(hdr("ES384"), claims(), "ES384", k.ec384),
            keyname,
            ["ES384"],
        )
    for keyname in ("ec521-pem", "ec521-jwk"):
        valid(
            f"valid-es512-{keyname.removeprefix('ec521-')}",
            "valid",
            jws(hdr("ES512"), claims(), "ES512", k.ec521),
            keyname,
            ["ES512"],
        )
    for keyname in ("secp256k1-pem", "secp256k1-jwk"):
        valid(
            f"valid-es256k-{keyname.removeprefix('secp256k1-')}",
            "valid",
            jws(hdr("ES256K"), claims(), "ES256K", k.k256),
            keyname,
            ["ES256K"],
        )
    for keyname in ("ed25519-pem", "ed25519-jwk", "ed25519-der", "ed25519-ssh"):
        valid(
            f"valid-eddsa-{keyname.removeprefix('ed25519-')}",
            "valid",
            jws(hdr("EdDSA"), claims(), "EdDSA", k.ed),
            keyname,
            ["EdDSA"],
        )
    valid(
        "valid-rs256-among-many-algorithms",
        "valid",
        jws(hdr("RS256"), claims(), "RS256", k.rsa),
        "rsa-pem",
        ["ES256", "PS256", "RS256", "EdDSA"],
    )
    valid(
        "valid-no-typ-header", "valid", jws({"alg": "HS256"}, claims(), "HS256", k.hs256), "hs256", ["HS256"]
    )
    valid(
        "valid-header-json-whitespace",
        "valid",
        jws('{ "alg" : "HS256" ,\n\t"typ" : "JWT" }', claims(), "HS256", k.hs256),
        "hs256",
        ["HS256"],
        note="insignificant JSON whitespace is legal (Wycheproof ValidSpacesInJsonHeader)",
    )
    valid(
        "valid-header-unknown-parameter",
        "valid",
        jws(hdr("HS256", ext={"a": [1, 2]}, x="y"), claims(), "HS256", k.hs256),
        "hs256",
        ["HS256"],
    )
    valid(
        "valid-float-exp",
        "valid",
        jws(hdr("HS256"), claims(exp=FAR + 0.5, iat=NOW - 0.25), "HS256", k.hs256),
        "hs256",
        ["HS256"],
    )
    valid(
        "valid-exp-exponent-notation",
        "valid",
        jws(hdr("HS256"), '{"sub":"user-1","exp":2.01536E9}', "HS256", k.hs256),
        "hs256",
        ["HS256"],
    )
    valid(
        "valid-unicode-claims",
        "valid",
        jws(hdr("HS256"), claims(name="Zoë 東京 \U0001f512", esc='\u0000"\\/'), "HS256", k.hs256),
        "hs256",
        ["HS256"],
    )
    valid(
        "valid-escaped-unicode-in-payload",
        "valid",
        jws(hdr("HS256"), '{"sub":"\\u0075ser-1","n":"\\ud83d\\udd12","exp":%d}' % FAR, "HS256", k.hs256),
        "hs256",
        ["HS256"],
        note="escaped member values and a surrogate pair decode to ordinary strings",
    )
    valid(
        "valid-keys-differing-only-in-case",
        "valid",
        jws(hdr("HS256"), '{"sub":"a","Sub":"b","SUB":"c","exp":%d}' % FAR, "HS256", k.hs256),
        "hs256",
        ["HS256"],
        note="not duplicates: member names compare by exact code points",
    )
    valid(
        "valid-registered-claims-all-present",
        "valid",
        jws(
            hdr("HS256"),
            claims(nbf=NOW - 60, jti="id-123", iss="https://issuer.example", aud="api"),
            "HS256",
            k.hs256,
        ),
        "hs256",
        ["HS256"],
        audience=["api"],
        issuer=["https://issuer.example"],
        subject="user-1",
        required=["exp", "iat", "nbf", "jti", "iss", "aud", "sub"],
    )
    valid(
        "valid-required-empty-no-exp",
        "valid",
        jws(hdr("HS256"), {"sub": "user-1"}, "HS256", k.hs256),
        "hs256",
        ["HS256"],
        required=[],
        note="nothing required: a token without exp passes",
    )

    # ---- material mode: the untyped / compat entry point -------------------------------------
    valid(
        "material-valid-hs256-text-secret",
        "valid",
        jws(hdr("HS256"), claims(), "HS256", k.hs_text.encode()),
        "hs-text",
        ["HS256"],
        key_mode="material",
    )
    valid(
        "material-valid-hs256-hex-secret-bytes",
        "valid",
        jws(hdr("HS256"), claims(), "HS256", k.hs256),
        "hs256",
        ["HS256"],
        key_mode="material",
    )
    valid(
        "material-valid-rs256-pem",
        "valid",
        jws(hdr("RS256"), claims(), "RS256", k.rsa),
        "rsa-pem",
        ["RS256"],
        key_mode="material",
    )
    valid(
        "material-valid-rs256-pem-hs256-rs256-accepted",
        "valid",
        jws(hdr("RS256"), claims(), "RS256", k.rsa),
        "rsa-pem",
        ["HS256", "RS256"],
        key_mode="material",
        note="mixed list: PEM material becomes an RSA key, and RS256 verifies",
    )
    valid(
        "material-valid-rs256-ssh",
        "valid",
        jws(hdr("RS256"), claims(), "RS256", k.rsa),
        "rsa-ssh",
        ["RS256"],
        key_mode="material",
    )
    valid(
        "material-valid-rs256-der",
        "valid",
        jws(hdr("RS256"), claims(), "RS256", k.rsa),
        "rsa-der",
        ["RS256"],
        key_mode="material",
        note="DER bytes; PyJWT itself does not take DER (not cross-checked)",
    )
    valid(
        "material-valid-rs256-jwk-text",
        "valid",
        jws(hdr("RS256"), claims(), "RS256", k.rsa),
        "rsa-jwk",
        ["RS256"],
        key_mode="material",
        note="JWK JSON text; PyJWT itself does not take it (not cross-checked)",
    )
    valid(
        "material-valid-es256-pem",
        "valid",
        jws(hdr("ES256"), claims(), "ES256", k.ec256),
        "ec256-pem",
        ["ES256"],
        key_mode="material",
    )
    valid(
        "material-valid-eddsa-pem",
        "valid",
        jws(hdr("EdDSA"), claims(), "EdDSA", k.ed),
        "ed25519-pem",
        ["EdDSA"],
        key_mode="material",
    )
    valid(
        "material-valid-rs256-pem-newline-prefix",
        "valid",
        jws(hdr("RS256"), claims(), "RS256", k.rsa),
        "rsa-pem",
        ["RS256"],
        key_mode="material",
        material_prefix="\n",
        note="text before -----BEGIN is ignored (RFC 7468 §2)",
    )
    cs.add(
        "material-plain-secret-rsa-only",
        "key-confusion",
        jws(hdr("RS256"), claims(), "RS256", k.rsa),
        "hs-text",
        ["RS256"],
        "INVALID_KEY",
        key_mode="material",
        note="a plain secret offered where only RSA algorithms are accepted",
    )

    # ---- alg: none ----------------------------------------------------------------------------
    legit = hs()
    legit_sig = legit.split(".")[2]
    for spelling in ("none", "None", "NONE", "nOnE"):
        slug = {"none": "lower", "None": "capitalized", "NONE": "upper", "nOnE": "mixed"}[spelling]
        h = {"alg": spelling, "typ": "JWT"}
        cs.add(
            f"alg-none-{slug}-empty-signature",
            "alg-none",
            jws(h, claims()),
            "hs256",
            ["HS256"],
            "INVALID_ALGORITHM",
        )
        cs.add(
            f"alg-none-{slug}-with-signature",
            "alg-none",
            f"{seg(h)}.{seg(claims())}.{legit_sig}",
            "hs256",
            ["HS256"],
            "INVALID_ALGORITHM",
            note="alg swapped to none, original HS256 signature kept",
        )
    cs.add(
        "alg-none-rsa-key",
        "alg-none",
        jws({"alg": "none"}, claims()),
        "rsa-pem",
        ["RS256"],
        "INVALID_ALGORITHM",
    )
    cs.add(
        "alg-none-listed-in-algorithms",
        "alg-none",
        jws({"alg": "none"}, claims()),
        "hs256",
        ["none", "HS256"],
        "INVALID_ALGORITHM",
        note="none is refused even when the caller lists it (may fail at configuration)",
    )
    cs.add(
        "alg-none-two-segments",
        "alg-none",
        f"{seg({'alg': 'none'})}.{seg(claims())}",
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
    )

    # ---- algorithm allow-list and family ------------------------------------------------------
    cs.add(
        "alg-rs256-token-es256-accepted",
        "algorithm",
        jws(hdr("RS256"), claims(), "RS256", k.rsa),
        "ec256-pem",
        ["ES256"],
        "INVALID_ALGORITHM",
    )
    cs.add(
        "alg-not-in-accepted-list",
        "algorithm",
        jws(hdr("HS384"), claims(), "HS384", k.hs512),
        "hs512",
        ["HS256", "HS512"],
        "INVALID_ALGORITHM",
    )
    cs.add(
        "alg-ps256-when-only-rs256-accepted",
        "algorithm",
        jws(hdr("PS256"), claims(), "PS256", k.rsa),
        "rsa-pem",
        ["RS256"],
        "INVALID_ALGORITHM",
    )
    cs.add(
        "alg-lowercase-hs256",
        "algorithm",
        jws({"alg": "hs256"}, claims(), "HS256", k.hs256),
        "hs256",
        ["HS256"],
        "INVALID_ALGORITHM",
        note="alg names are case-sensitive",
    )
    cs.add(
        "alg-trailing-space",
        "algorithm",
        jws({"alg": "HS256 "}, claims(), "HS256", k.hs256),
        "hs256",
        ["HS256"],
        "INVALID_ALGORITHM",
    )
    cs.add(
        "alg-empty-string",
        "algorithm",
        jws({"alg": ""}, claims(), "HS256", k.hs256),
        "hs256",
        ["HS256"],
        "INVALID_ALGORITHM",
    )
    cs.add(
        "alg-unknown-name",
        "algorithm",
        jws({"alg": "HS1024"}, claims(), "HS512", k.hs512),
        "hs512",
        ["HS512"],
        "INVALID_ALGORITHM",
    )
    cs.add(
        "alg-ed25519-fully-specified-name",
        "algorithm",
        jws({"alg": "Ed25519"}, claims(), "EdDSA", k.ed),
        "ed25519-pem",
        ["EdDSA"],
        "INVALID_ALGORITHM",
        note="only the name EdDSA is accepted",
    )
    cs.add(
        "alg-rs256-with-hmac-key",
        "algorithm",
        jws(hdr("RS256"), claims(), "RS256", k.rsa),
        "hs256",
        ["HS256", "RS256"],
        "INVALID_ALGORITHM",
        note="typed HMAC key cannot verify RS256",
    )
    cs.add(
        "alg-es384-token-p256-key",
        "algorithm",
        jws(hdr("ES384"), claims(), "ES384", k.ec384),
        "ec256-pem",
        ["ES256", "ES384"],
        "INVALID_ALGORITHM",
    )
    cs.add(
        "alg-es256-token-secp256k1-key",
        "algorithm",
        jws(hdr("ES256"), claims(), "ES256", k.ec256),
        "secp256k1-pem",
        ["ES256", "ES256K"],
        "INVALID_ALGORITHM",
    )
    cs.add(
        "alg-es256k-token-p256-key",
        "algorithm",
        jws(hdr("ES256K"), claims(), "ES256K", k.k256),
        "ec256-pem",
        ["ES256", "ES256K"],
        "INVALID_ALGORITHM",
    )
    cs.add(
        "alg-eddsa-token-rsa-key",
        "algorithm",
        jws(hdr("EdDSA"), claims(), "EdDSA", k.ed),
        "rsa-pem",
        ["RS256", "EdDSA"],
        "INVALID_ALGORITHM",
    )

    # ---- key confusion: public key bytes used as an HMAC secret -------------------------------
    prefixes = {"space": " ", "zwsp": "\u200b", "hash": "#", "newline": "\n"}

    def forged(keyname: str, prefix: str = "") -> str:
        return jws(hdr("HS256"), claims(), "HS256", k.material(keyname, prefix))

    for keyname in (
        "rsa-pem",
        "rsa-pkcs1-pem",
        "rsa-cert-pem",
        "rsa-der",
        "rsa-jwk",
        "rsa-ssh",
        "ec256-pem",
        "ec256-der",
        "ec256-jwk",
        "ec256-ssh",
        "ed25519-pem",
        "ed25519-ssh",
    ):
        cs.add(
            f"confusion-hs256-{keyname}-hmac-only",
            "key-confusion",
            forged(keyname),
            keyname,
            ["HS256"],
            "INVALID_KEY",
            key_mode="material",
            note="HS256 MACed with the public key's own bytes; key material is never an HMAC secret",
        )
    for keyname in ("rsa-pem", "rsa-der", "rsa-jwk", "rsa-ssh", "ec256-pem"):
        for pname, p in prefixes.items():
            cs.add(
                f"confusion-hs256-{keyname}-{pname}-prefix-hmac-only",
                "key-confusion",
                forged(keyname, p),
                keyname,
                ["HS256"],
                "INVALID_KEY",
                key_mode="material",
                material_prefix=p,
            )
    mixed = {"rsa": ["HS256", "RS256"], "ec256": ["HS256", "ES256"], "ed25519": ["HS256", "EdDSA"]}
    for keyname in (
        "rsa-pem",
        "rsa-pkcs1-pem",
        "rsa-cert-pem",
        "rsa-der",
        "rsa-jwk",
        "rsa-ssh",
        "ec256-pem",
        "ec256-der",
        "ec256-jwk",
        "ec256-ssh",
        "ed25519-pem",
        "ed25519-ssh",
    ):
        algs = mixed[keyname.split("-")[0]]
        cs.add(
            f"confusion-hs256-{keyname}-{algs[1].lower()}-also-accepted",
            "key-confusion",
            forged(keyname),
            keyname,
            algs,
            "INVALID_ALGORITHM",
            key_mode="material",
            note=f"material becomes a {algs[1]} key, which cannot verify HS256",
        )
    # Prefixes a key parser legitimately skips: text before a PEM block (RFC 7468 §2), JSON
    # whitespace before a JWK, leading whitespace on an authorized_keys line. Other prefixes on
    # JWK/SSH/DER material make it unparseable (INVALID_KEY) and appear only in HMAC-only cases.
    all_prefixes = ("space", "zwsp", "hash", "newline")
    for keyname, pnames in (
        ("rsa-pem", all_prefixes),
        ("ec256-pem", all_prefixes),
        ("rsa-jwk", ("space", "newline")),
        ("rsa-ssh", ("space", "newline")),
    ):
        algs = mixed[keyname.split("-")[0]]
        for pname in pnames:
            p = prefixes[pname]
            cs.add(
                f"confusion-hs256-{keyname}-{pname}-prefix-{algs[1].lower()}-also-accepted",
                "key-confusion",
                forged(keyname, p),
                keyname,
                algs,
                "INVALID_ALGORITHM",
                key_mode="material",
                material_prefix=p,
            )
    cs.add(
        "confusion-hs256-typed-rsa-key",
        "key-confusion",
        forged("rsa-pem"),
        "rsa-pem",
        ["HS256"],
        "INVALID_ALGORITHM",
        note="a typed RSA key never verifies HS256",
    )
    cs.add(
        "confusion-hs256-typed-ec-key",
        "key-confusion",
        forged("ec256-pem"),
        "ec256-pem",
        ["HS256", "ES256"],
        "INVALID_ALGORITHM",
    )
    for keyname in ("rsa-pem-as-hmac-secret", "rsa-b64der-as-hmac-secret", "rsa-ssh-as-hmac-secret"):
        cs.add(
            f"confusion-typed-hmac-constructor-{keyname.removesuffix('-as-hmac-secret')}-text",
            "key-confusion",
            forged(keyname),
            keyname,
            ["HS256"],
            "INVALID_KEY",
            note="the typed HMAC constructor refuses public-key material as a secret",
        )

    # ---- HMAC key strength --------------------------------------------------------------------
    cs.add(
        "hmac-key-31-bytes-hs256",
        "key-strength",
        jws(hdr("HS256"), claims(), "HS256", k.hs_short),
        "hs-short",
        ["HS256"],
        "INVALID_KEY",
        note="RFC 7518 §3.2: key at least as long as the hash output",
    )
    cs.add(
        "hmac-key-32-bytes-hs384",
        "key-strength",
        jws(hdr("HS384"), claims(), "HS384", k.hs256),
        "hs256",
        ["HS384"],
        "INVALID_KEY",
    )
    cs.add(
        "hmac-key-32-bytes-hs512",
        "key-strength",
        jws(hdr("HS512"), claims(), "HS512", k.hs256),
        "hs256",
        ["HS512"],
        "INVALID_KEY",
    )
    cs.add(
        "hmac-key-48-bytes-hs512",
        "key-strength",
        jws(hdr("HS512"), claims(), "HS512", k.hs384),
        "hs384",
        ["HS512"],
        "INVALID_KEY",
    )
    cs.add(
        "hmac-key-31-bytes-material",
        "key-strength",
        jws(hdr("HS256"), claims(), "HS256", k.hs_short),
        "hs-short",
        ["HS256"],
        "INVALID_KEY",
        key_mode="material",
    )

    # ---- crit ----------------------------------------------------------------------------------
    cs.add(
        "crit-unknown-extension",
        "crit",
        hs(hdr("HS256", crit=["x-ext"], **{"x-ext": 1})),
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
        note="crit names an extension the caller does not understand",
    )
    cs.add(
        "crit-registered-name",
        "crit",
        hs(hdr("HS256", crit=["alg"])),
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
        critical_extensions=["alg"],
        note="registered header names may not appear in crit, even if 'understood'",
    )
    cs.add(
        "crit-registered-kid",
        "crit",
        hs(hdr("HS256", kid="k1", crit=["kid"])),
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
        critical_extensions=["kid"],
    )
    cs.add(
        "crit-exp-absent-from-header",
        "crit",
        hs(hdr("HS256", crit=["exp"])),
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
        critical_extensions=["exp"],
    )
    cs.add("crit-empty-list", "crit", hs(hdr("HS256", crit=[])), "hs256", ["HS256"], "MALFORMED_TOKEN")
    cs.add(
        "crit-names-absent-header",
        "crit",
        hs(hdr("HS256", crit=["x-ext"])),
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
        critical_extensions=["x-ext"],
    )
    cs.add(
        "crit-duplicate-name",
        "crit",
        hs(hdr("HS256", crit=["x-ext", "x-ext"], **{"x-ext": 1})),
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
        critical_extensions=["x-ext"],
    )
    cs.add(
        "crit-not-an-array",
        "crit",
        hs(hdr("HS256", crit="x-ext", **{"x-ext": 1})),
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
        critical_extensions=["x-ext"],
    )
    cs.add(
        "crit-non-string-member", "crit", hs(hdr("HS256", crit=[1])), "hs256", ["HS256"], "MALFORMED_TOKEN"
    )
    cs.add(
        "crit-one-of-two-understood",
        "crit",
        hs(hdr("HS256", crit=["x-ext", "y-ext"], **{"x-ext": 1, "y-ext": 2})),
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
        critical_extensions=["x-ext"],
    )
    valid(
        "crit-understood-extension",
        "crit",
        hs(hdr("HS256", crit=["x-ext"], **{"x-ext": 1})),
        "hs256",
        ["HS256"],
        critical_extensions=["x-ext"],
        note="PyJWT does not let callers declare extensions (not cross-checked)",
    )
    cs.add(
        "crit-unknown-with-alg-none",
        "crit",
        jws({"alg": "none", "crit": ["x-ext"], "x-ext": 1}, claims()),
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
        note="crit is checked while parsing the header, before alg",
    )

    # ---- b64 (RFC 7797) -----------------------------------------------------------------------
    cs.add(
        "b64-false-in-crit",
        "b64",
        hs(hdr("HS256", b64=False, crit=["b64"])),
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
        critical_extensions=["b64"],
    )
    cs.add(
        "b64-false-without-crit", "b64", hs(hdr("HS256", b64=False)), "hs256", ["HS256"], "MALFORMED_TOKEN"
    )
    unencoded_payload = jbytes(claims()).decode()
    h_b64 = seg(hdr("HS256", b64=False, crit=["b64"]))
    cs.add(
        "b64-false-unencoded-payload",
        "b64",
        f"{h_b64}.{unencoded_payload}.{b64u(sign('HS256', k.hs256, (h_b64 + '.' + unencoded_payload).encode()))}",
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
        critical_extensions=["b64"],
        note="RFC 7797 signing input with the raw JSON payload in the compact form",
    )
    cs.add("b64-not-boolean", "b64", hs(hdr("HS256", b64="false")), "hs256", ["HS256"], "MALFORMED_TOKEN")

    # ---- embedded keys and key URLs in the header ---------------------------------------------
    attacker_jwk = jwk_public(k.attacker_rsa, "attacker")
    cs.add(
        "embedded-jwk-attacker-rs256",
        "embedded-key",
        jws(hdr("RS256", jwk=attacker_jwk), claims(), "RS256", k.attacker_rsa),
        "rsa-pem",
        ["RS256"],
        "INVALID_SIGNATURE",
        note="signed by the attacker key carried in the header",
    )
    cs.add(
        "embedded-jwk-attacker-es256",
        "embedded-key",
        jws(hdr("ES256", jwk=jwk_public(k.attacker_ec256, "attacker")), claims(), "ES256", k.attacker_ec256),
        "ec256-pem",
        ["ES256"],
        "INVALID_SIGNATURE",
    )
    cs.add(
        "embedded-jwk-attacker-oct-hs256",
        "embedded-key",
        jws(
            hdr("HS256", jwk={"kty": "oct", "k": b64u(k.attacker_secret)}),
            claims(),
            "HS256",
            k.attacker_secret,
        ),
        "hs256",
        ["HS256"],
        "INVALID_SIGNATURE",
    )
    cs.add(
        "embedded-jku-attacker",
        "embedded-key",
        jws(
            hdr("RS256", jku="https://attacker.example/jwks.json", kid="attacker"),
            claims(),
            "RS256",
            k.attacker_rsa,
        ),
        "rsa-pem",
        ["RS256"],
        "INVALID_SIGNATURE",
    )
    cs.add(
        "embedded-x5u-attacker",
        "embedded-key",
        jws(hdr("RS256", x5u="https://attacker.example/cert.pem"), claims(), "RS256", k.attacker_rsa),
        "rsa-pem",
        ["RS256"],
        "INVALID_SIGNATURE",
    )
    attacker_x5c = [b64_std(k.attacker_cert.public_bytes(serialization.Encoding.DER))]
    cs.add(
        "embedded-x5c-attacker",
        "embedded-key",
        jws(hdr("RS256", x5c=attacker_x5c), claims(), "RS256", k.attacker_rsa),
        "rsa-pem",
        ["RS256"],
        "INVALID_SIGNATURE",
    )
    cs.add(
        "embedded-kid-path-traversal",
        "embedded-key",
        jws(hdr("HS256", kid="../../../../../../dev/null"), claims(), "HS256", b""),
        "hs256",
        ["HS256"],
        "INVALID_SIGNATURE",
        note="MACed with the empty key /dev/null would yield; kid never selects a file",
    )
    cs.add(
        "embedded-kid-sql-injection",
        "embedded-key",
        jws(hdr("HS256", kid="x' UNION SELECT 'attacker-secret' -- "), claims(), "HS256", b"attacker-secret"),
        "hs256",
        ["HS256"],
        "INVALID_SIGNATURE",
    )
    valid(
        "embedded-jku-on-legit-token",
        "embedded-key",
        jws(hdr("RS256", jku="https://attacker.example/jwks.json"), claims(), "RS256", k.rsa),
        "rsa-pem",
        ["RS256"],
        note="the header merely carries jku; the configured key verifies",
    )
    valid(
        "embedded-own-jwk-on-legit-token",
        "embedded-key",
        jws(hdr("RS256", jwk=jwk_public(k.rsa, "rsa-1")), claims(), "RS256", k.rsa),
        "rsa-pem",
        ["RS256"],
    )
    valid(
        "embedded-own-x5c-on-legit-token",
        "embedded-key",
        jws(
            hdr("RS256", x5c=[b64_std(k.rsa_cert.public_bytes(serialization.Encoding.DER))]),
            claims(),
            "RS256",
            k.rsa,
        ),
        "rsa-pem",
        ["RS256"],
    )
    valid("embedded-kid-on-legit-token", "embedded-key", hs(hdr("HS256", kid="hs-1")), "hs256", ["HS256"])

    # ---- size bound ---------------------------------------------------------------------------
    def sized(target: int) -> str:
        """An HS256 token of exactly ``target`` bytes."""
        for kid_len in range(1, 8):
            for pad in range(max(0, target * 3 // 4 - 200), target):
                t = hs(hdr("HS256", kid="k" * kid_len), claims(pad="p" * pad))
                if len(t) == target:
                    return t
                if len(t) > target:
                    break
        raise RuntimeError(f"no token of {target} bytes")

    valid(
        "size-exactly-default-limit",
        "oversized",
        sized(DEFAULT_MAX),
        "hs256",
        ["HS256"],
        note="8192 bytes, default max_token_size (8192) not set by the case",
    )
    valid(
        "size-exactly-explicit-limit",
        "oversized",
        sized(DEFAULT_MAX),
        "hs256",
        ["HS256"],
        max_token_size=DEFAULT_MAX,
    )
    cs.add(
        "oversized-one-byte-over-default",
        "oversized",
        sized(DEFAULT_MAX + 1),
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
        note="8193 bytes, default limit",
    )
    cs.add(
        "oversized-one-byte-over-explicit",
        "oversized",
        sized(DEFAULT_MAX + 1),
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
        max_token_size=DEFAULT_MAX,
    )
    big = sized(9000)
    cs.add("oversized-9000-bytes", "oversized", big, "hs256", ["HS256"], "MALFORMED_TOKEN")
    valid("oversized-9000-bytes-raised-limit", "oversized", big, "hs256", ["HS256"], max_token_size=16384)
    cs.add(
        "oversized-lowered-limit",
        "oversized",
        hs(),
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
        max_token_size=64,
        note="a normal token over a lowered limit",
    )
    cs.add(
        "oversized-huge-header",
        "oversized",
        hs(hdr("HS256", x="h" * 9000)),
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
    )
    cs.add(
        "oversized-1mb-token",
        "oversized",
        {"unit": "A", "count": 1 << 20},
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
        note="1 MiB single segment; rejected by size before any decoding",
    )

    # ---- dots / segment count -----------------------------------------------------------------
    cs.add("dots-100k", "dots", {"unit": ".", "count": 100_000}, "hs256", ["HS256"], "MALFORMED_TOKEN")
    cs.add(
        "dots-100k-raised-limit",
        "dots",
        {"unit": ".", "count": 100_000},
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
        max_token_size=1_000_000,
        note="past the size bound: too many segments",
    )
    cs.add("dots-a-5000", "dots", {"unit": "a.", "count": 5000}, "hs256", ["HS256"], "MALFORMED_TOKEN")
    cs.add(
        "dots-a-5000-raised-limit",
        "dots",
        {"unit": "a.", "count": 5000},
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
        max_token_size=1_000_000,
    )
    cs.add(
        "dots-3000-raised-limit",
        "dots",
        {"unit": "..", "count": 1500},
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
        max_token_size=1_000_000,
    )
    h_, p_, s_ = legit.split(".")
    cs.add("segments-empty-token", "dots", "", "hs256", ["HS256"], "MALFORMED_TOKEN")
    cs.add("segments-one", "dots", h_, "hs256", ["HS256"], "MALFORMED_TOKEN")
    cs.add("segments-two", "dots", f"{h_}.{p_}", "hs256", ["HS256"], "MALFORMED_TOKEN")
    cs.add("segments-four", "dots", f"{legit}.{s_}", "hs256", ["HS256"], "MALFORMED_TOKEN")
    cs.add("segments-trailing-dot", "dots", f"{legit}.", "hs256", ["HS256"], "MALFORMED_TOKEN")
    cs.add(
        "segments-five-jwe-shape", "dots", f"{h_}.{s_}.{s_}.{p_}.{s_}", "hs256", ["HS256"], "MALFORMED_TOKEN"
    )
    cs.add("segments-only-dots", "dots", "..", "hs256", ["HS256"], "MALFORMED_TOKEN")

    # ---- duplicate member names ---------------------------------------------------------------
    dup_headers = {
        "dup-header-alg-hs256-then-none": '{"alg":"HS256","alg":"none"}',
        "dup-header-alg-none-then-hs256": '{"alg":"none","alg":"HS256"}',
        "dup-header-alg-same-value": '{"alg":"HS256","alg":"HS256"}',
        "dup-header-alg-escaped": '{"alg":"HS256","\\u0061lg":"none"}',
        "dup-header-alg-escaped-same-value": '{"\\u0061\\u006c\\u0067":"HS256","alg":"HS256"}',
        "dup-header-typ": '{"alg":"HS256","typ":"JWT","typ":"at+jwt"}',
        "dup-header-crit": '{"alg":"HS256","x-ext":1,"crit":["x-ext"],"crit":["x-ext"]}',
        "dup-header-nested": '{"alg":"HS256","ext":{"a":1,"a":2}}',
    }
    for name, text in dup_headers.items():
        cs.add(
            name,
            "duplicate-keys",
            jws(text, claims(), "HS256", k.hs256),
            "hs256",
            ["HS256"],
            "MALFORMED_TOKEN",
            critical_extensions=["x-ext"] if "crit" in name else None,
        )
    dup_payloads = {
        "dup-claims-sub": '{"sub":"a","sub":"b","exp":%d}',
        "dup-claims-exp": '{"sub":"a","exp":%d,"exp":1}',
        "dup-claims-iss-escaped": '{"iss":"https://issuer.example","\\u0069ss":"https://evil.example","exp":%d}',
        "dup-claims-exp-fully-escaped": '{"exp":%d,"\\u0065\\u0078\\u0070":1}',
        "dup-claims-nested-object": '{"sub":"a","exp":%d,"ctx":{"role":"user","role":"admin"}}',
        "dup-claims-nested-in-array": '{"sub":"a","exp":%d,"grants":[{"r":"x"},{"r":"x","r":"y"}]}',
        "dup-claims-deeply-nested": '{"sub":"a","exp":%d,"a":{"b":[[{"c":{"d":1,"d":1}}]]}}',
    }
    for name, text in dup_payloads.items():
        cs.add(
            name,
            "duplicate-keys",
            jws(hdr("HS256"), text % FAR, "HS256", k.hs256),
            "hs256",
            ["HS256"],
            "MALFORMED_TOKEN",
            issuer=["https://issuer.example"] if "iss" in name else None,
        )

    # ---- claim types --------------------------------------------------------------------------
    bad_types: list[tuple[str, dict[str, Any], str]] = [
        ("exp-string-never", {"exp": "never"}, "MALFORMED_TOKEN"),
        ("exp-numeric-string", {"exp": str(FAR)}, "MALFORMED_TOKEN"),
        ("exp-null", {"exp": None}, "MALFORMED_TOKEN"),
        ("exp-boolean", {"exp": True}, "MALFORMED_TOKEN"),
        ("exp-array", {"exp": [FAR]}, "MALFORMED_TOKEN"),
        ("exp-object", {"exp": {"t": FAR}}, "MALFORMED_TOKEN"),
        ("nbf-numeric-string", {"nbf": "9999999999"}, "MALFORMED_TOKEN"),
        ("nbf-null", {"nbf": None}, "MALFORMED_TOKEN"),
        ("nbf-boolean", {"nbf": False}, "MALFORMED_TOKEN"),
        ("iat-string", {"iat": str(NOW)}, "INVALID_ISSUED_AT"),
        ("iat-null", {"iat": None}, "INVALID_ISSUED_AT"),
        ("iat-boolean", {"iat": True}, "INVALID_ISSUED_AT"),
        ("iss-number", {"iss": 123}, "INVALID_ISSUER"),
        ("iss-array", {"iss": ["https://issuer.example"]}, "INVALID_ISSUER"),
        ("iss-null", {"iss": None}, "INVALID_ISSUER"),
        ("sub-number", {"sub": 42}, "INVALID_SUBJECT"),
        ("sub-object", {"sub": {"id": "user-1"}}, "INVALID_SUBJECT"),
        ("jti-number", {"jti": 1}, "INVALID_JTI"),
        ("jti-array", {"jti": ["a"]}, "INVALID_JTI"),
        ("aud-number", {"aud": 1}, "INVALID_AUDIENCE"),
        ("aud-array-of-numbers", {"aud": [1]}, "INVALID_AUDIENCE"),
        ("aud-array-mixed", {"aud": ["api", 1]}, "INVALID_AUDIENCE"),
        ("aud-object", {"aud": {"api": True}}, "INVALID_AUDIENCE"),
        ("aud-null", {"aud": None}, "INVALID_AUDIENCE"),
    ]
    for name, extra, code in bad_types:
        cfg: dict[str, Any] = {}
        if name.startswith("aud-"):
            cfg["audience"] = ["api"]
        cs.add(
            f"claim-type-{name}", "claim-types", hs(payload=claims(**extra)), "hs256", ["HS256"], code, **cfg
        )
    cs.add(
        "claim-type-iss-checked-without-issuer-config",
        "claim-types",
        hs(payload=claims(iss=7)),
        "hs256",
        ["HS256"],
        "INVALID_ISSUER",
        note="types are checked whether or not an issuer is configured",
    )
    cs.add(
        "claim-type-before-required",
        "claim-types",
        hs(payload=claims(exp="x", sub=_DROP)),
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
        required=["exp", "sub"],
        note="type checks run before required-claim checks",
    )
    cs.add(
        "claim-type-before-expiry",
        "claim-types",
        hs(payload=claims(exp=NOW - 10, iat="then")),
        "hs256",
        ["HS256"],
        "INVALID_ISSUED_AT",
        note="type checks run before time checks",
    )

    # ---- expiry -------------------------------------------------------------------------------
    def timed(name: str, cls: str, extra: dict[str, Any], expect: str, **kw: Any) -> None:
        tok = hs(payload=claims(**extra))
        if expect == "valid":
            valid(name, cls, tok, "hs256", ["HS256"], **kw)
        else:
            cs.add(name, cls, tok, "hs256", ["HS256"], expect, **kw)

    timed("exp-expired-10s", "expiry", {"exp": NOW - 10, "iat": NOW - 3600}, "TOKEN_EXPIRED")
    timed("exp-expired-10s-leeway-30", "expiry", {"exp": NOW - 10, "iat": NOW - 3600}, "valid", leeway=30)
    timed(
        "exp-equals-now",
        "expiry",
        {"exp": NOW, "iat": NOW - 3600},
        "TOKEN_EXPIRED",
        note="now >= exp: expired at the exact second",
    )
    timed("exp-now-plus-1", "expiry", {"exp": NOW + 1, "iat": NOW - 3600}, "valid")
    timed(
        "exp-expired-30s-leeway-30",
        "expiry",
        {"exp": NOW - 30, "iat": NOW - 3600},
        "TOKEN_EXPIRED",
        leeway=30,
        note="boundary: now >= exp + leeway",
    )
    timed("exp-expired-29s-leeway-30", "expiry", {"exp": NOW - 29, "iat": NOW - 3600}, "valid", leeway=30)
    timed("exp-float-half-second-ahead", "expiry", {"exp": NOW + 0.5, "iat": NOW - 3600}, "valid")
    timed("exp-float-half-second-behind", "expiry", {"exp": NOW - 0.5, "iat": NOW - 3600}, "TOKEN_EXPIRED")
    timed("exp-zero", "expiry", {"exp": 0, "iat": _DROP}, "TOKEN_EXPIRED")
    timed("exp-negative", "expiry", {"exp": -1, "iat": _DROP}, "TOKEN_EXPIRED")
    timed(
        "exp-case-now-override",
        "expiry",
        {"exp": NOW + 100, "iat": NOW},
        "TOKEN_EXPIRED",
        now=NOW + 100,
        note="the case sets its own now",
    )
    timed("exp-fractional-leeway", "expiry", {"exp": NOW - 1, "iat": NOW - 3600}, "valid", leeway=1.5)

    # ---- not before / issued at ---------------------------------------------------------------
    timed("nbf-future-10s", "not-before", {"nbf": NOW + 10}, "TOKEN_NOT_YET_VALID")
    timed("nbf-future-10s-leeway-30", "not-before", {"nbf": NOW + 10}, "valid", leeway=30)
    timed("nbf-equals-now", "not-before", {"nbf": NOW}, "valid")
    timed("nbf-now-plus-1", "not-before", {"nbf": NOW + 1}, "TOKEN_NOT_YET_VALID")
    timed(
        "nbf-future-30s-leeway-30",
        "not-before",
        {"nbf": NOW + 30},
        "valid",
        leeway=30,
        note="boundary: nbf > now + leeway fails, equal passes",
    )
    timed("nbf-future-31s-leeway-30", "not-before", {"nbf": NOW + 31}, "TOKEN_NOT_YET_VALID", leeway=30)
    timed("nbf-float-future", "not-before", {"nbf": NOW + 0.5}, "TOKEN_NOT_YET_VALID")
    timed("iat-future-10s", "issued-at", {"iat": NOW + 10}, "TOKEN_NOT_YET_VALID")
    timed("iat-future-10s-leeway-30", "issued-at", {"iat": NOW + 10}, "valid", leeway=30)
    timed("iat-equals-now", "issued-at", {"iat": NOW}, "valid")
    timed("iat-far-future", "issued-at", {"iat": FAR - 1}, "TOKEN_NOT_YET_VALID")
    timed(
        "iat-future-and-expired",
        "issued-at",
        {"iat": NOW + 10, "exp": NOW - 10},
        "TOKEN_NOT_YET_VALID",
        note="iat is checked before exp",
    )
    timed(
        "nbf-future-and-expired",
        "not-before",
        {"nbf": NOW + 10, "exp": NOW - 10},
        "TOKEN_NOT_YET_VALID",
        note="nbf is checked before exp",
    )

    # ---- required claims ----------------------------------------------------------------------
    cs.add(
        "required-exp-missing", "required", hs(payload=claims(exp=_DROP)), "hs256", ["HS256"], "MISSING_CLAIM"
    )
    cs.add(
        "required-sub-missing",
        "required",
        hs(payload=claims(sub=_DROP)),
        "hs256",
        ["HS256"],
        "MISSING_CLAIM",
        required=["exp", "sub"],
    )
    cs.add(
        "required-jti-missing",
        "required",
        hs(payload=claims()),
        "hs256",
        ["HS256"],
        "MISSING_CLAIM",
        required=["exp", "iat", "jti"],
    )
    cs.add(
        "required-custom-claim-missing",
        "required",
        hs(payload=claims()),
        "hs256",
        ["HS256"],
        "MISSING_CLAIM",
        required=["exp", "tenant"],
    )
    valid(
        "required-present-with-null-value",
        "required",
        hs(payload=claims(tenant=None)),
        "hs256",
        ["HS256"],
        required=["exp", "tenant"],
        note="a member with value null is present",
    )
    cs.add(
        "required-before-expiry",
        "required",
        hs(payload=claims(exp=NOW - 10, sub=_DROP)),
        "hs256",
        ["HS256"],
        "MISSING_CLAIM",
        required=["exp", "sub"],
        note="required claims are checked before time checks",
    )

    # ---- issuer -------------------------------------------------------------------------------
    ISS = "https://issuer.example"
    valid("iss-match", "issuer", hs(payload=claims(iss=ISS)), "hs256", ["HS256"], issuer=[ISS])
    valid(
        "iss-one-of-several",
        "issuer",
        hs(payload=claims(iss=ISS)),
        "hs256",
        ["HS256"],
        issuer=["https://other.example", ISS],
    )
    valid("iss-present-not-configured", "issuer", hs(payload=claims(iss="anything")), "hs256", ["HS256"])
    cs.add(
        "iss-mismatch",
        "issuer",
        hs(payload=claims(iss="https://evil.example")),
        "hs256",
        ["HS256"],
        "INVALID_ISSUER",
        issuer=[ISS],
    )
    cs.add(
        "iss-missing-when-configured",
        "issuer",
        hs(payload=claims()),
        "hs256",
        ["HS256"],
        "MISSING_CLAIM",
        issuer=[ISS],
    )
    cs.add(
        "iss-substring-token-contains-expected",
        "issuer",
        hs(payload=claims(iss="__abc__")),
        "hs256",
        ["HS256"],
        "INVALID_ISSUER",
        issuer=["abc"],
    )
    cs.add(
        "iss-substring-expected-contains-token",
        "issuer",
        hs(payload=claims(iss="abc")),
        "hs256",
        ["HS256"],
        "INVALID_ISSUER",
        issuer=["__abc__"],
        note="PyJWT CVE-2024-53861: `iss in issuer` with a string issuer",
    )
    cs.add(
        "iss-case-differs",
        "issuer",
        hs(payload=claims(iss=ISS.upper())),
        "hs256",
        ["HS256"],
        "INVALID_ISSUER",
        issuer=[ISS],
    )
    cs.add(
        "iss-trailing-slash",
        "issuer",
        hs(payload=claims(iss=ISS + "/")),
        "hs256",
        ["HS256"],
        "INVALID_ISSUER",
        issuer=[ISS],
    )
    cs.add(
        "iss-expired-checked-first",
        "issuer",
        hs(payload=claims(iss="https://evil.example", exp=NOW - 10)),
        "hs256",
        ["HS256"],
        "TOKEN_EXPIRED",
        issuer=[ISS],
        note="time checks run before the issuer check",
    )

    # ---- audience -----------------------------------------------------------------------------
    valid("aud-string-match", "audience", hs(payload=claims(aud="api")), "hs256", ["HS256"], audience=["api"])
    valid(
        "aud-array-match",
        "audience",
        hs(payload=claims(aud=["web", "api"])),
        "hs256",
        ["HS256"],
        audience=["api"],
    )
    valid(
        "aud-one-of-several-configured",
        "audience",
        hs(payload=claims(aud="api")),
        "hs256",
        ["HS256"],
        audience=["admin", "api"],
    )
    cs.add(
        "aud-string-no-match",
        "audience",
        hs(payload=claims(aud="web")),
        "hs256",
        ["HS256"],
        "INVALID_AUDIENCE",
        audience=["api"],
    )
    cs.add(
        "aud-array-no-match",
        "audience",
        hs(payload=claims(aud=["web", "mobile"])),
        "hs256",
        ["HS256"],
        "INVALID_AUDIENCE",
        audience=["api"],
    )
    cs.add(
        "aud-empty-array-configured",
        "audience",
        hs(payload=claims(aud=[])),
        "hs256",
        ["HS256"],
        "INVALID_AUDIENCE",
        audience=["api"],
    )
    cs.add(
        "aud-substring",
        "audience",
        hs(payload=claims(aud="api-internal")),
        "hs256",
        ["HS256"],
        "INVALID_AUDIENCE",
        audience=["api"],
    )
    cs.add(
        "aud-present-not-configured-string",
        "audience",
        hs(payload=claims(aud="api")),
        "hs256",
        ["HS256"],
        "INVALID_AUDIENCE",
        note="RFC 7519 §4.1.3: a token for named audiences is refused by a verifier with none",
    )
    cs.add(
        "aud-present-not-configured-array",
        "audience",
        hs(payload=claims(aud=["api"])),
        "hs256",
        ["HS256"],
        "INVALID_AUDIENCE",
    )
    cs.add(
        "aud-missing-when-configured",
        "audience",
        hs(payload=claims()),
        "hs256",
        ["HS256"],
        "MISSING_CLAIM",
        audience=["api"],
    )
    cs.add(
        "aud-checked-after-issuer",
        "audience",
        hs(payload=claims(aud="web", iss="https://evil.example")),
        "hs256",
        ["HS256"],
        "INVALID_ISSUER",
        audience=["api"],
        issuer=[ISS],
        note="issuer is checked before audience",
    )

    # ---- subject ------------------------------------------------------------------------------
    valid("sub-match", "subject", hs(payload=claims()), "hs256", ["HS256"], subject="user-1")
    cs.add(
        "sub-mismatch",
        "subject",
        hs(payload=claims(sub="user-2")),
        "hs256",
        ["HS256"],
        "INVALID_SUBJECT",
        subject="user-1",
    )
    cs.add(
        "sub-missing-when-configured",
        "subject",
        hs(payload=claims(sub=_DROP)),
        "hs256",
        ["HS256"],
        "MISSING_CLAIM",
        subject="user-1",
    )
    cs.add(
        "sub-prefix",
        "subject",
        hs(payload=claims(sub="user-10")),
        "hs256",
        ["HS256"],
        "INVALID_SUBJECT",
        subject="user-1",
    )

    # ---- typ ----------------------------------------------------------------------------------
    def typed(t: Any) -> str:
        h = {"alg": "HS256"}
        if t is not None:
            h["typ"] = t
        return hs(h)

    valid("typ-exact", "typ", typed("JWT"), "hs256", ["HS256"], typ="JWT")
    valid("typ-case-insensitive", "typ", typed("jwt"), "hs256", ["HS256"], typ="JWT")
    valid("typ-application-prefix", "typ", typed("application/jwt"), "hs256", ["HS256"], typ="JWT")
    valid("typ-application-prefix-mixed-case", "typ", typed("Application/JWT"), "hs256", ["HS256"], typ="jwt")
    valid(
        "typ-at-jwt-application-prefix", "typ", typed("application/at+jwt"), "hs256", ["HS256"], typ="at+jwt"
    )
    valid("typ-not-checked-when-not-configured", "typ", typed("whatever"), "hs256", ["HS256"])
    cs.add("typ-mismatch", "typ", typed("JWT"), "hs256", ["HS256"], "INVALID_TOKEN_TYPE", typ="at+jwt")
    cs.add("typ-suffix-only", "typ", typed("at+jwt"), "hs256", ["HS256"], "INVALID_TOKEN_TYPE", typ="JWT")
    cs.add(
        "typ-missing-when-configured", "typ", typed(None), "hs256", ["HS256"], "INVALID_TOKEN_TYPE", typ="JWT"
    )
    cs.add(
        "typ-other-media-prefix",
        "typ",
        typed("text/jwt"),
        "hs256",
        ["HS256"],
        "INVALID_TOKEN_TYPE",
        typ="JWT",
    )
    cs.add(
        "typ-checked-before-signature",
        "typ",
        typed("JOSE").rsplit(".", 1)[0] + "." + b64u(bytes(32)),
        "hs256",
        ["HS256"],
        "INVALID_TOKEN_TYPE",
        typ="JWT",
        note="typ is checked before the signature",
    )

    # ---- header structure ---------------------------------------------------------------------
    bad_headers = {
        "header-alg-number": '{"alg":256}',
        "header-alg-null": '{"alg":null}',
        "header-alg-array": '{"alg":["HS256"]}',
        "header-alg-missing": '{"typ":"JWT"}',
        "header-typ-number": '{"alg":"HS256","typ":1}',
        "header-kid-number": '{"alg":"HS256","kid":7}',
        "header-cty-array": '{"alg":"HS256","cty":["JWT"]}',
        "header-json-array": '["HS256"]',
        "header-json-string": '"HS256"',
        "header-empty-object": "{}",
        "header-invalid-json": '{"alg":"HS256"',
        "header-trailing-garbage": '{"alg":"HS256"}x',
        "header-two-objects": '{"alg":"HS256"}{"alg":"HS256"}',
        "header-single-quotes": "{'alg':'HS256'}",
        "header-trailing-comma": '{"alg":"HS256",}',
    }
    for name, text in bad_headers.items():
        cs.add(name, "header", jws(text, claims(), "HS256", k.hs256), "hs256", ["HS256"], "MALFORMED_TOKEN")
    cs.add(
        "header-utf8-bom",
        "header",
        jws(b"\xef\xbb\xbf" + jbytes(hdr("HS256")), claims(), "HS256", k.hs256),
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
        note="strict JSON: no byte-order mark",
    )
    cs.add(
        "header-not-utf8",
        "header",
        jws(b'{"alg":"HS256","x":"\xff"}', claims(), "HS256", k.hs256),
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
    )
    cs.add(
        "header-nesting-65",
        "header",
        jws('{"alg":"HS256","x":' + "[" * 64 + "]" * 64 + "}", claims(), "HS256", k.hs256),
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
    )
    cs.add("header-empty-segment", "header", f".{p_}.{s_}", "hs256", ["HS256"], "MALFORMED_TOKEN")

    # ---- payload structure --------------------------------------------------------------------
    def deep(levels: int, opener: str = "[", closer: str = "]") -> str:
        return opener * levels + closer * levels

    valid(
        "payload-nesting-64",
        "payload",
        hs(payload='{"sub":"user-1","exp":%d,"deep":%s}' % (FAR, deep(63))),
        "hs256",
        ["HS256"],
        note="the claims object is depth 1, plus 63 nested arrays: 64 in all",
    )
    cs.add(
        "payload-nesting-65",
        "payload",
        hs(payload='{"sub":"user-1","exp":%d,"deep":%s}' % (FAR, deep(64))),
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
        note="the claims object plus 64 nested arrays: 65",
    )
    obj64 = '{"a":' * 63 + "1" + "}" * 63
    valid(
        "payload-nesting-64-objects",
        "payload",
        hs(payload='{"sub":"user-1","exp":%d,"deep":%s}' % (FAR, obj64)),
        "hs256",
        ["HS256"],
    )
    obj65 = '{"a":' * 64 + "1" + "}" * 64
    cs.add(
        "payload-nesting-65-objects",
        "payload",
        hs(payload='{"sub":"user-1","exp":%d,"deep":%s}' % (FAR, obj65)),
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
    )
    cs.add(
        "payload-nesting-10000-raised-limit",
        "payload",
        hs(payload='{"sub":"user-1","exp":%d,"deep":%s}' % (FAR, deep(10_000))),
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
        max_token_size=1_000_000,
        note="stack exhaustion guard",
    )
    non_objects = {
        "payload-json-array": '[{"sub":"user-1","exp":%d}]' % FAR,
        "payload-json-string": '"{\\"sub\\":\\"user-1\\"}"',
        "payload-json-number": "1",
        "payload-json-null": "null",
        "payload-json-true": "true",
        "payload-empty": "",
        "payload-invalid-json": '{"sub":"user-1","exp":%d' % FAR,
        "payload-trailing-garbage": '{"sub":"user-1","exp":%d}x' % FAR,
        "payload-trailing-comma": '{"sub":"user-1","exp":%d,}' % FAR,
        "payload-nan": '{"sub":"user-1","exp":NaN}',
        "payload-infinity": '{"sub":"user-1","exp":Infinity}',
        "payload-leading-zero-number": '{"sub":"user-1","exp":0%d}' % FAR,
        "payload-raw-control-char": '{"sub":"user\x01","exp":%d}' % FAR,
        "payload-invalid-escape": '{"sub":"user\\x41","exp":%d}' % FAR,
    }
    for name, text in non_objects.items():
        cs.add(name, "payload", hs(payload=text), "hs256", ["HS256"], "MALFORMED_TOKEN")
    cs.add(
        "payload-not-utf8",
        "payload",
        hs(payload=b'{"sub":"\xff\xfe","exp":%d}' % FAR),
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
    )
    cs.add(
        "payload-overlong-utf8",
        "payload",
        hs(payload=b'{"sub":"\xc0\xaf","exp":%d}' % FAR),
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
    )
    cs.add(
        "payload-utf8-encoded-surrogate",
        "payload",
        hs(payload=b'{"sub":"\xed\xa0\x80","exp":%d}' % FAR),
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
    )
    cs.add(
        "payload-utf8-bom",
        "payload",
        hs(payload=b"\xef\xbb\xbf" + jbytes(claims())),
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
    )
    cs.add(
        "payload-checked-after-signature",
        "payload",
        hs(payload='["not","an","object"]').rsplit(".", 1)[0] + "." + b64u(bytes(32)),
        "hs256",
        ["HS256"],
        "INVALID_SIGNATURE",
        note="the payload is only parsed once the signature verifies",
    )

    # ---- base64url strictness -----------------------------------------------------------------
    def hs_literal(h: str, p: str) -> str:
        return f"{h}.{p}.{b64u(sign('HS256', k.hs256, f'{h}.{p}'.encode()))}"

    def padded(b: bytes) -> str:
        return base64.urlsafe_b64encode(b).decode()

    def with_len_mod3(r: int, *, header: bool = False) -> bytes:
        for i in range(3):
            b = jbytes(hdr("HS256", kid="k" * (i + 1))) if header else jbytes(claims(pad="p" * i))
            if len(b) % 3 == r:
                return b
        raise AssertionError

    hp = with_len_mod3(2, header=True)  # one '=' of padding
    cs.add(
        "b64-header-padding",
        "base64",
        hs_literal(padded(hp), p_),
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
        note="signed over the padded text: only the padding is wrong",
    )
    pp = with_len_mod3(1)  # two '=' of padding
    cs.add("b64-payload-padding", "base64", hs_literal(h_, padded(pp)), "hs256", ["HS256"], "MALFORMED_TOKEN")
    cs.add("b64-signature-padding", "base64", legit + "=", "hs256", ["HS256"], "MALFORMED_TOKEN")
    cs.add("b64-signature-double-padding", "base64", legit + "==", "hs256", ["HS256"], "MALFORMED_TOKEN")

    # payload and signature that need '-' and '_' in base64url, sent with '+' and '/'
    for i in range(10_000):
        p = seg(claims(n="x" * (i % 3) + "~~~???" + str(i)))
        if "-" in p or "_" in p:
            break
    else:
        raise AssertionError
    cs.add(
        "b64-payload-standard-alphabet",
        "base64",
        hs_literal(h_, p.replace("-", "+").replace("_", "/")),
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
        note="'+' or '/' instead of '-' or '_'",
    )
    for i in range(10_000):
        t = hs(payload=claims(n=i))
        sig = t.split(".")[2]
        if "-" in sig or "_" in sig:
            break
    else:
        raise AssertionError
    h2, p2, _ = t.split(".")
    cs.add(
        "b64-signature-standard-alphabet",
        "base64",
        f"{h2}.{p2}.{sig.replace('-', '+').replace('_', '/')}",
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
    )
    mid = len(p_) // 2
    cs.add(
        "b64-payload-inner-space",
        "base64",
        hs_literal(h_, p_[:mid] + " " + p_[mid:]),
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
    )
    cs.add(
        "b64-payload-inner-newline",
        "base64",
        hs_literal(h_, p_[:mid] + "\n" + p_[mid:]),
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
    )
    cs.add(
        "b64-payload-inner-crlf",
        "base64",
        hs_literal(h_, p_[:mid] + "\r\n" + p_[mid:]),
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
    )
    cs.add(
        "b64-header-inner-tab",
        "base64",
        hs_literal(h_[:5] + "\t" + h_[5:], p_),
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
    )
    cs.add(
        "b64-signature-inner-space",
        "base64",
        f"{h_}.{p_}.{s_[:10]} {s_[10:]}",
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
    )
    cs.add("b64-token-leading-space", "base64", " " + legit, "hs256", ["HS256"], "MALFORMED_TOKEN")
    cs.add("b64-token-trailing-newline", "base64", legit + "\n", "hs256", ["HS256"], "MALFORMED_TOKEN")
    cs.add(
        "b64-payload-illegal-char",
        "base64",
        hs_literal(h_, p_[:mid] + "*" + p_[mid + 1 :]),
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
    )
    cs.add(
        "b64-payload-inner-equals",
        "base64",
        hs_literal(h_, p_[:mid] + "=" + p_[mid:]),
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
    )
    # a length of 4k+1 characters encodes no whole byte
    h41 = h_ + "A" * ((1 - len(h_)) % 4)
    assert len(h41) % 4 == 1
    cs.add(
        "b64-header-impossible-length",
        "base64",
        hs_literal(h41, p_),
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
        note="4k+1 characters",
    )
    # non-zero unused bits in the last character
    alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"

    def dirty_tail(s: str) -> str:
        rem = len(s) % 4
        assert rem in (2, 3), s
        idx = alphabet.index(s[-1])
        unused = 0b1111 if rem == 2 else 0b11
        assert idx & unused == 0
        return s[:-1] + alphabet[idx | 1]

    cs.add(
        "b64-signature-nonzero-trailing-bits",
        "base64",
        f"{h_}.{p_}.{dirty_tail(s_)}",
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
        note="decodes leniently to the right MAC (Wycheproof ModifiedUnusedBits)",
    )
    pdirty = dirty_tail(b64u(with_len_mod3(1)))
    cs.add(
        "b64-payload-nonzero-trailing-bits",
        "base64",
        hs_literal(h_, pdirty),
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
    )
    hdirty = dirty_tail(b64u(with_len_mod3(2, header=True)))
    cs.add(
        "b64-header-nonzero-trailing-bits",
        "base64",
        hs_literal(hdirty, p_),
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
    )
    cs.add(
        "b64-empty-payload-segment",
        "base64",
        hs_literal(h_, ""),
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
        note="empty payload is not a JSON object",
    )

    # ---- signatures ---------------------------------------------------------------------------
    def strip_sig(t: str) -> str:
        return t.rsplit(".", 1)[0] + "."

    def with_sig(t: str, sig: bytes) -> str:
        return t.rsplit(".", 1)[0] + "." + b64u(sig)

    def flip(t: str) -> str:
        raw = bytearray(base64.urlsafe_b64decode(t.rsplit(".", 1)[1] + "=="))
        raw[len(raw) // 2] ^= 0x01
        return with_sig(t, bytes(raw))

    cs.add("sig-hs256-wrong-secret", "signature", legit, "hs-other", ["HS256"], "INVALID_SIGNATURE")
    cs.add(
        "sig-hs256-stripped",
        "signature",
        strip_sig(legit),
        "hs256",
        ["HS256"],
        "INVALID_SIGNATURE",
        note="'h.p.' with alg HS256",
    )
    cs.add(
        "sig-hs256-tampered-payload",
        "signature",
        f"{h_}.{seg(claims(sub='admin'))}.{s_}",
        "hs256",
        ["HS256"],
        "INVALID_SIGNATURE",
    )
    cs.add(
        "sig-hs256-tampered-header",
        "signature",
        f"{seg(hdr('HS256', kid='x'))}.{p_}.{s_}",
        "hs256",
        ["HS256"],
        "INVALID_SIGNATURE",
    )
    cs.add(
        "sig-hs256-truncated",
        "signature",
        with_sig(legit, base64.urlsafe_b64decode(s_ + "=")[:16]),
        "hs256",
        ["HS256"],
        "INVALID_SIGNATURE",
    )
    cs.add(
        "sig-hs256-extra-byte",
        "signature",
        with_sig(legit, base64.urlsafe_b64decode(s_ + "=") + b"\0"),
        "hs256",
        ["HS256"],
        "INVALID_SIGNATURE",
    )
    cs.add("sig-hs256-bitflip", "signature", flip(legit), "hs256", ["HS256"], "INVALID_SIGNATURE")
    cs.add(
        "sig-hs256-labelled-hs512-mac",
        "signature",
        with_sig(legit, sign("HS512", k.hs256, legit.rsplit(".", 1)[0].encode())),
        "hs256",
        ["HS256"],
        "INVALID_SIGNATURE",
    )
    rs = jws(hdr("RS256"), claims(), "RS256", k.rsa)
    cs.add(
        "sig-rs256-signed-by-other-key",
        "signature",
        jws(hdr("RS256"), claims(), "RS256", k.rsa_other),
        "rsa-pem",
        ["RS256"],
        "INVALID_SIGNATURE",
    )
    cs.add(
        "sig-rs256-verified-with-other-key", "signature", rs, "rsa-other-pem", ["RS256"], "INVALID_SIGNATURE"
    )
    cs.add("sig-rs256-stripped", "signature", strip_sig(rs), "rsa-pem", ["RS256"], "INVALID_SIGNATURE")
    cs.add("sig-rs256-bitflip", "signature", flip(rs), "rsa-pem", ["RS256"], "INVALID_SIGNATURE")
    cs.add("sig-rs256-zero", "signature", with_sig(rs, bytes(256)), "rsa-pem", ["RS256"], "INVALID_SIGNATURE")
    ps_input = f"{seg(hdr('PS256'))}.{seg(claims())}"
    cs.add(
        "sig-pkcs1-signature-labelled-ps256",
        "signature",
        f"{ps_input}.{b64u(sign('RS256', k.rsa, ps_input.encode()))}",
        "rsa-pem",
        ["PS256"],
        "INVALID_SIGNATURE",
    )
    rs_input = f"{seg(hdr('RS256'))}.{seg(claims())}"
    cs.add(
        "sig-pss-signature-labelled-rs256",
        "signature",
        f"{rs_input}.{b64u(sign('PS256', k.rsa, rs_input.encode()))}",
        "rsa-pem",
        ["RS256"],
        "INVALID_SIGNATURE",
    )
    es = jws(hdr("ES256"), claims(), "ES256", k.ec256)
    es_input = es.rsplit(".", 1)[0].encode()
    cs.add(
        "sig-es256-psychic-zero",
        "signature",
        with_sig(es, bytes(64)),
        "ec256-pem",
        ["ES256"],
        "INVALID_SIGNATURE",
        note="r = s = 0 (CVE-2022-21449)",
    )
    cs.add(
        "sig-es256-psychic-zero-der",
        "signature",
        f"{es_input.decode()}.MAYCAQACAQA",
        "ec256-pem",
        ["ES256"],
        "INVALID_SIGNATURE",
        note="DER SEQUENCE{0,0}: the classic psychic-signature payload",
    )
    cs.add(
        "sig-es256-der-encoded",
        "signature",
        with_sig(es, k.ec256.sign(es_input, ec.ECDSA(hashes.SHA256()))),
        "ec256-pem",
        ["ES256"],
        "INVALID_SIGNATURE",
        note="a genuine signature, but DER instead of raw R||S",
    )
    r_s = base64.urlsafe_b64decode(es.rsplit(".", 1)[1] + "==")
    n256 = CURVE_ORDER["P-256"]
    cs.add(
        "sig-es256-r-zero",
        "signature",
        with_sig(es, bytes(32) + r_s[32:]),
        "ec256-pem",
        ["ES256"],
        "INVALID_SIGNATURE",
    )
    cs.add(
        "sig-es256-r-equals-n",
        "signature",
        with_sig(es, n256.to_bytes(32, "big") + r_s[32:]),
        "ec256-pem",
        ["ES256"],
        "INVALID_SIGNATURE",
    )
    cs.add(
        "sig-es256-r-all-ones",
        "signature",
        with_sig(es, b"\xff" * 32 + r_s[32:]),
        "ec256-pem",
        ["ES256"],
        "INVALID_SIGNATURE",
        note="r = 2^256 - 1 > n",
    )
    cs.add(
        "sig-es256-63-bytes", "signature", with_sig(es, r_s[:63]), "ec256-pem", ["ES256"], "INVALID_SIGNATURE"
    )
    cs.add(
        "sig-es256-65-bytes",
        "signature",
        with_sig(es, r_s + b"\0"),
        "ec256-pem",
        ["ES256"],
        "INVALID_SIGNATURE",
    )
    cs.add("sig-es256-stripped", "signature", strip_sig(es), "ec256-pem", ["ES256"], "INVALID_SIGNATURE")
    cs.add("sig-es256-bitflip", "signature", flip(es), "ec256-pem", ["ES256"], "INVALID_SIGNATURE")
    cs.add(
        "sig-es256-other-key",
        "signature",
        jws(hdr("ES256"), claims(), "ES256", k.attacker_ec256),
        "ec256-pem",
        ["ES256"],
        "INVALID_SIGNATURE",
    )
    es384 = jws(hdr("ES384"), claims(), "ES384", k.ec384)
    cs.add(
        "sig-es384-psychic-zero",
        "signature",
        with_sig(es384, bytes(96)),
        "ec384-pem",
        ["ES384"],
        "INVALID_SIGNATURE",
    )
    es512 = jws(hdr("ES512"), claims(), "ES512", k.ec521)
    cs.add(
        "sig-es512-psychic-zero",
        "signature",
        with_sig(es512, bytes(132)),
        "ec521-pem",
        ["ES512"],
        "INVALID_SIGNATURE",
    )
    cs.add(
        "sig-es512-der-encoded",
        "signature",
        with_sig(es512, k.ec521.sign(es512.rsplit(".", 1)[0].encode(), ec.ECDSA(hashes.SHA512()))),
        "ec521-pem",
        ["ES512"],
        "INVALID_SIGNATURE",
    )
    es256k = jws(hdr("ES256K"), claims(), "ES256K", k.k256)
    cs.add(
        "sig-es256k-psychic-zero",
        "signature",
        with_sig(es256k, bytes(64)),
        "secp256k1-pem",
        ["ES256K"],
        "INVALID_SIGNATURE",
    )
    ed = jws(hdr("EdDSA"), claims(), "EdDSA", k.ed)
    cs.add("sig-eddsa-bitflip", "signature", flip(ed), "ed25519-pem", ["EdDSA"], "INVALID_SIGNATURE")
    cs.add(
        "sig-eddsa-zero", "signature", with_sig(ed, bytes(64)), "ed25519-pem", ["EdDSA"], "INVALID_SIGNATURE"
    )
    cs.add("sig-eddsa-stripped", "signature", strip_sig(ed), "ed25519-pem", ["EdDSA"], "INVALID_SIGNATURE")

    # ---- precedence between checks ------------------------------------------------------------
    cs.add(
        "order-size-before-segments",
        "order",
        {"unit": "a.", "count": 5000},
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
    )
    cs.add(
        "order-alg-before-signature",
        "order",
        with_sig(jws(hdr("HS384"), claims(), "HS384", k.hs512), bytes(48)),
        "hs512",
        ["HS512"],
        "INVALID_ALGORITHM",
    )
    cs.add(
        "order-key-strength-before-signature",
        "order",
        with_sig(jws(hdr("HS256"), claims(), "HS256", k.hs_short), bytes(32)),
        "hs-short",
        ["HS256"],
        "INVALID_KEY",
    )
    cs.add(
        "order-signature-before-claims",
        "order",
        with_sig(hs(payload=claims(exp=NOW - 10, aud="x")), bytes(32)),
        "hs256",
        ["HS256"],
        "INVALID_SIGNATURE",
    )
    cs.add(
        "order-expired-before-audience",
        "order",
        hs(payload=claims(exp=NOW - 10, aud="web")),
        "hs256",
        ["HS256"],
        "TOKEN_EXPIRED",
        audience=["api"],
    )
    cs.add(
        "order-audience-before-subject",
        "order",
        hs(payload=claims(aud="web", sub="user-2")),
        "hs256",
        ["HS256"],
        "INVALID_AUDIENCE",
        audience=["api"],
        subject="user-1",
    )
    cs.add(
        "order-duplicate-claims-before-expiry",
        "order",
        hs(payload='{"sub":"a","sub":"a","exp":%d}' % (NOW - 10)),
        "hs256",
        ["HS256"],
        "MALFORMED_TOKEN",
    )
    return cs


# ---------------------------------------------------------------------------------------------
# PyJWT cross-check


def expand(case: dict[str, Any]) -> str:
    if "token" in case:
        return case["token"]
    rep = case["token_repeat"]
    return rep["unit"] * rep["count"]


def pyjwt_key(doc: dict[str, Any], case: dict[str, Any], alg: str) -> Any:
    """The key PyJWT gets for ``case``: a typed object built from the stored form, or the raw material."""
    import jwt

    entry = doc["keys"][case["key"]]
    kind = entry["kind"]
    if case["key_mode"] == "material":
        prefix = case.get("material_prefix", "")
        if kind == "pem":
            return prefix + entry["pem"]
        if kind == "ssh":
            return prefix + entry["ssh"]
        if kind == "hmac" and "secret" in entry:
            return prefix + entry["secret"]
        if kind == "hmac":
            return prefix.encode() + bytes.fromhex(entry["secret_hex"])
        if kind == "der_b64":
            return prefix.encode() + base64.b64decode(entry["der_b64"])
        if kind == "jwk":
            return prefix + json.dumps(entry["jwk"], separators=(",", ":"))
        raise ValueError(kind)
    if kind == "hmac":
        return entry["secret"].encode() if "secret" in entry else bytes.fromhex(entry["secret_hex"])
    if kind == "pem":
        text = entry["pem"].encode()
        if b"CERTIFICATE" in text:
            return x509.load_pem_x509_certificate(text).public_key()
        return serialization.load_pem_public_key(text)
    if kind == "der_b64":
        return serialization.load_der_public_key(base64.b64decode(entry["der_b64"]))
    if kind == "ssh":
        return serialization.load_ssh_public_key(entry["ssh"].encode())
    if kind == "jwk":
        return jwt.PyJWK(entry["jwk"], algorithm=alg)
    raise ValueError(kind)


PYJWT_SKIP = {
    # features PyJWT does not offer; the vectors still pin bastion's behaviour
    "crit-understood-extension": "PyJWT cannot declare understood crit extensions",
    "material-valid-rs256-der": "PyJWT does not accept DER key bytes",
    "material-valid-rs256-jwk-text": "PyJWT does not accept JWK text as a key",
    "required-present-with-null-value": "PyJWT treats a null-valued required claim as missing",
    "exp-float-half-second-ahead": "PyJWT truncates fractional exp/nbf/iat with int()",
}


def pyjwt_decode(doc: dict[str, Any], case: dict[str, Any]) -> tuple[bool, Any]:
    """(accepted, claims-or-exception) from PyJWT, with the clock pinned to the case's now."""
    import jwt
    import jwt.api_jwt as api_jwt

    now = case.get("now", doc["now"])

    class FixedDatetime(_dt.datetime):
        @classmethod
        def now(cls, tz: Any = None) -> FixedDatetime:  # type: ignore[override]
            return cls.fromtimestamp(now, tz=tz or _dt.timezone.utc)

    token = expand(case)
    try:
        header = jwt.get_unverified_header(token)
        alg = header.get("alg") if isinstance(header.get("alg"), str) else case["algorithms"][0]
    except Exception:
        alg = case["algorithms"][0]
    saved = api_jwt.datetime
    api_jwt.datetime = FixedDatetime  # type: ignore[misc]
    try:
        key = pyjwt_key(doc, case, alg)
        opts: dict[str, Any] = {"require": case["required"]}
        kwargs: dict[str, Any] = {}
        if case.get("audience") is not None:
            kwargs["audience"] = case["audience"]
        if case.get("issuer") is not None:
            kwargs["issuer"] = case["issuer"]
        if case.get("subject") is not None:
            kwargs["subject"] = case["subject"]
        got = jwt.decode(
            token, key, algorithms=case["algorithms"], options=opts, leeway=case["leeway"], **kwargs
        )
        return True, got
    except Exception as e:
        return False, e
    finally:
        api_jwt.datetime = saved  # type: ignore[misc]


def cross_check(doc: dict[str, Any], differential: bool) -> int:
    try:
        import jwt
    except ImportError:
        print("PyJWT not installed: cross-check skipped", file=sys.stderr)
        return 0
    import warnings

    warnings.simplefilter("ignore")
    failures = 0
    checked = skipped = 0
    accepted_negative: list[str] = []
    for case in doc["cases"]:
        if case["expect"] == "valid":
            if case["name"] in PYJWT_SKIP:
                skipped += 1
                continue
            ok, got = pyjwt_decode(doc, case)
            checked += 1
            if not ok:
                failures += 1
                print(
                    f"PyJWT REJECTS valid case {case['name']}: {type(got).__name__}: {got}", file=sys.stderr
                )
            elif got != case["claims"]:
                failures += 1
                print(
                    f"PyJWT claims differ for {case['name']}: {got!r} != {case['claims']!r}", file=sys.stderr
                )
        elif differential:
            if "token_repeat" in case:
                continue
            ok, got = pyjwt_decode(doc, case)
            if ok:
                accepted_negative.append(f"{case['name']} (bastion: {case['expect']})")
    print(
        f"PyJWT {jwt.__version__}: {checked} valid cases verified, {skipped} skipped (unsupported by PyJWT), "
        f"{failures} failures",
        file=sys.stderr,
    )
    if differential:
        print(f"negative cases PyJWT ACCEPTS ({len(accepted_negative)}):", file=sys.stderr)
        for line in accepted_negative:
            print(f"  {line}", file=sys.stderr)
    return failures


# ---------------------------------------------------------------------------------------------


def render(doc: dict[str, Any]) -> str:
    """JSON with one key and one case per line: readable, and diffs stay per case."""

    def one(v: Any) -> str:
        return json.dumps(v, ensure_ascii=True, separators=(", ", ": "))

    lines = ["{"]
    lines.append(f' "description": {one(doc["description"])},')
    lines.append(f' "now": {one(doc["now"])},')
    lines.append(' "keys": {')
    keys = list(doc["keys"].items())
    for i, (name, entry) in enumerate(keys):
        lines.append(f"  {one(name)}: {one(entry)}" + ("," if i < len(keys) - 1 else ""))
    lines.append(" },")
    lines.append(' "cases": [')
    for i, case in enumerate(doc["cases"]):
        lines.append(f"  {one(case)}" + ("," if i < len(doc["cases"]) - 1 else ""))
    lines.append(" ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--no-check", action="store_true", help="skip the PyJWT cross-check of the valid cases")
    ap.add_argument(
        "--differential",
        action="store_true",
        help="also run PyJWT on the negative cases and list those it accepts (informational)",
    )
    args = ap.parse_args()

    keys = Keys()
    cases = build(keys)
    used = {c["key"] for c in cases.items}
    unused = set(keys.entries) - used
    if unused:
        raise SystemExit(f"keys never used by a case: {sorted(unused)}")
    doc = {
        "description": (
            "bastion JWT verification vectors, shared by the Rust, Python and Node suites. Generated by "
            "tests/vectors/generate_jwt.py (keys are fresh per run); schema in tests/vectors/README.md. Every case "
            'is checked at the fixed clock `now` unless it sets its own; `expect` is "valid" (then `claims` is the '
            "exact claims object) or the stable error code."
        ),
        "now": NOW,
        "keys": keys.entries,
        "cases": cases.items,
    }
    text = render(doc)
    if json.loads(text) != doc:
        raise AssertionError("rendered JSON does not round-trip")
    args.out.write_text(text, encoding="utf-8")
    counts = Counter(c["class"] for c in cases.items)
    expects = Counter(c["expect"] for c in cases.items)
    print(
        f"wrote {args.out} ({len(cases.items)} cases, {len(keys.entries)} keys, {len(text)} bytes)",
        file=sys.stderr,
    )
    for cls, n in sorted(counts.items()):
        print(f"  {cls:15} {n}", file=sys.stderr)
    print("  expect: " + ", ".join(f"{e}={n}" for e, n in sorted(expects.items())), file=sys.stderr)
    if args.no_check:
        return 0
    return 1 if cross_check(doc, args.differential) else 0


if __name__ == "__main__":
    sys.exit(main())
