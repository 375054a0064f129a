"""Shared vectors: the project's own (``tests/vectors``) and the public sets (``../shared/vectors``).

- ``jwt.json``: every case, as ``tests/vectors/README.md`` specifies: typed keys go
  through :class:`bastion.Verifier`, raw material through the PyJWT-style
  :func:`bastion.jwt.decode`; the outcome is the first error's ``code``.
- ``passwords.json``: verify / identify, hash with fixed salts, needs_rehash and
  raw Argon2 cases.
- Public sets, applied as the Rust suite does (``core/tests/public_vectors.rs``):
  Wycheproof JWS / JWK / JWS-crypto, ECDSA P-256, Ed25519 and HMAC-SHA256, and
  the RFC 7520 / RFC 8037 / RFC 7797 cookbook. Deliberate rejections come from
  ``tests/vectors/public_deviations.json``; every skipped group is reported.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import bastion.jwt as jwt
import pytest
from bastion import BastionError, InvalidKeyError, Key, ManualClock, Verifier
from bastion import _native as native

ROOT = Path(__file__).resolve().parents[2]
OWN = ROOT / "tests" / "vectors"
SHARED = ROOT.parent / "shared" / "vectors"


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def code_of(call: Any) -> tuple[str, Any]:
    """("valid", result) or (error code, None); any untyped exception fails the test."""
    try:
        return "valid", call()
    except BastionError as e:
        return e.code, None


# ---- jwt.json --------------------------------------------------------------------------------

JWT = load(OWN / "jwt.json") if (OWN / "jwt.json").exists() else {"cases": [], "keys": {}, "now": 0}


def _material(spec: dict[str, Any]) -> str | bytes:
    kind = spec["kind"]
    if kind == "pem":
        return str(spec["pem"])
    if kind == "ssh":
        return str(spec["ssh"])
    if kind == "jwk":
        jwk = spec["jwk"]
        return jwk if isinstance(jwk, str) else json.dumps(jwk, separators=(",", ":"))
    if kind == "hmac":
        return spec["secret"] if "secret" in spec else bytes.fromhex(spec["secret_hex"])
    if kind == "der_b64":
        return base64.b64decode(spec["der_b64"])
    raise AssertionError(f"unknown key kind {kind}")


def _typed_key(spec: dict[str, Any]) -> Key:
    kind = spec["kind"]
    material = _material(spec)
    if kind == "pem":
        return Key.from_pem(material)
    if kind == "ssh":
        return Key.from_ssh(material)
    if kind == "jwk":
        return Key.from_jwk(spec["jwk"])
    if kind == "hmac":
        return Key.hmac(material)
    assert isinstance(material, bytes)
    return Key.from_der(material)


def _token(case: dict[str, Any]) -> str:
    if "token" in case:
        return str(case["token"])
    rep = case["token_repeat"]
    return str(rep["unit"]) * int(rep["count"])


def _run_jwt_case(case: dict[str, Any]) -> tuple[str, Any]:
    spec = JWT["keys"][case["key"]]
    clock = ManualClock(case.get("now", JWT["now"]))
    token = _token(case)
    size = case.get("max_token_size", 8192)
    if case["key_mode"] == "material":
        assert "typ" not in case and "critical_extensions" not in case
        material = _material(spec)
        prefix = case.get("material_prefix", "")
        material = prefix.encode() + material if isinstance(material, bytes) else prefix + material
        return code_of(
            lambda: jwt.decode(
                token,
                material,
                algorithms=case["algorithms"],
                options={"require": case["required"]},
                audience=case["audience"],
                issuer=case["issuer"],
                subject=case["subject"],
                leeway=case["leeway"],
                clock=clock,
                max_token_size=size,
            )
        )

    def typed() -> dict[str, Any]:
        verifier = Verifier(
            _typed_key(spec),
            case["algorithms"],
            audience=case["audience"],
            issuer=case["issuer"],
            subject=case["subject"],
            leeway=case["leeway"],
            required=case["required"],
            typ=case.get("typ"),
            clock=clock,
            max_token_size=size,
            critical_extensions=case.get("critical_extensions"),
        )
        return verifier.decode(token)

    return code_of(typed)


@pytest.mark.skipif(not JWT["cases"], reason="tests/vectors/jwt.json is not there")
@pytest.mark.parametrize("case", JWT["cases"], ids=[c["name"] for c in JWT["cases"]])
def test_jwt_vector(case: dict[str, Any]) -> None:
    outcome, claims = _run_jwt_case(case)
    assert outcome == case["expect"], case.get("note", "")
    if outcome == "valid" and "claims" in case:
        assert claims == case["claims"]


def test_jwt_vector_names_are_unique() -> None:
    names = [c["name"] for c in JWT["cases"]]
    assert len(names) == len(set(names))


# ---- passwords.json ---------------------------------------------------------------------------

PASSWORDS = load(OWN / "passwords.json") if (OWN / "passwords.json").exists() else {}


def _password(case: dict[str, Any]) -> bytes:
    return case["password"].encode() if "password" in case else bytes.fromhex(case["password_hex"])


def _hasher(scheme: dict[str, Any], encoding: str) -> native.PasswordHasher:
    kind = scheme["type"]
    if kind == "argon2":
        return native.PasswordHasher(
            scheme["variant"],
            encoding,
            version=scheme["version"],
            time_cost=scheme["time_cost"],
            memory_cost=scheme["memory_cost"],
            parallelism=scheme["parallelism"],
            hash_len=scheme["hash_len"],
            salt_len=scheme.get("salt_len", 16),
        )
    if kind == "pbkdf2":
        return native.PasswordHasher(f"pbkdf2_{scheme['digest']}", encoding, iterations=scheme["iterations"])
    return native.PasswordHasher(kind, encoding, rounds=scheme["cost"])


def _cases(section: str) -> list[dict[str, Any]]:
    return list(PASSWORDS.get(section, []))


@pytest.mark.parametrize("case", _cases("verify"), ids=[c["name"] for c in _cases("verify")])
def test_password_verify_vector(case: dict[str, Any]) -> None:
    encoded, pw = case["encoded"], _password(case)
    outcome, result = code_of(lambda: native.verify_password(encoded, pw))
    if "error" in case:
        assert outcome == case["error"]
        assert code_of(lambda: native.identify_hash(encoded))[0] == case["error"]
        assert case["valid"] is False
        return
    assert outcome == "valid"
    assert result is case["valid"]
    info = native.identify_hash(encoded)
    if "algorithm" in case:
        assert info["algorithm"] == case["algorithm"]
    if "encoding" in case:
        assert info["format"] == case["encoding"]
    if "params" in case:
        want = dict(case["params"])
        if want["type"] == "argon2":
            want.setdefault("salt_len", info["params"]["salt_len"])
        assert info["params"] == want


@pytest.mark.parametrize("case", _cases("hash"), ids=[c["name"] for c in _cases("hash")])
def test_password_hash_vector(case: dict[str, Any]) -> None:
    salt = case["salt"].encode() if "salt" in case else bytes.fromhex(case["salt_hex"])
    hasher = _hasher(case["scheme"], case["encoding"])
    outcome, got = code_of(lambda: hasher.hash(_password(case), salt=salt))
    if "error" in case:
        assert outcome == case["error"]
        return
    assert got == case["expected"]
    assert not hasher.needs_rehash(got)


@pytest.mark.parametrize("case", _cases("needs_rehash"), ids=[c["name"] for c in _cases("needs_rehash")])
def test_password_needs_rehash_vector(case: dict[str, Any]) -> None:
    hasher = _hasher(case["hasher"]["scheme"], case["hasher"]["encoding"])
    outcome, result = code_of(lambda: hasher.needs_rehash(case["encoded"]))
    if "error" in case:
        assert outcome == case["error"]
    else:
        assert result is case["expected"]


@pytest.mark.parametrize("case", _cases("argon2_raw"), ids=[c["name"] for c in _cases("argon2_raw")])
def test_argon2_raw_vector(case: dict[str, Any]) -> None:
    p = case["params"]
    tag = native.argon2_hash_raw(
        bytes.fromhex(case["password_hex"]),
        bytes.fromhex(case["salt_hex"]),
        variant=p["variant"],
        version=p["version"],
        time_cost=p["time_cost"],
        memory_cost=p["memory_cost"],
        parallelism=p["parallelism"],
        hash_len=p["hash_len"],
        secret=bytes.fromhex(case["secret_hex"]),
        associated_data=bytes.fromhex(case["ad_hex"]),
    )
    assert tag.hex() == case["expected_hex"]


# ---- public vectors ---------------------------------------------------------------------------

needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(), reason="../shared/vectors is not beside the repository"
)


class Tally:
    def __init__(self, name: str) -> None:
        self.name = name
        self.applied = 0
        self.skipped: list[str] = []
        self.failures: list[str] = []

    def finish(self) -> None:
        print(f"{self.name}: {self.applied} cases applied")
        for s in self.skipped:
            print(f"{self.name}: skipped {s}")
        assert not self.failures, "\n".join(self.failures)
        assert self.applied > 0


def _deviations() -> dict[str, str]:
    return dict(load(OWN / "public_deviations.json")["deliberate_rejections"])


def _jws(token: str, key: Key, *, relaxed: bool = False) -> None:
    native.verify_jws(token, key, key.algorithms, allow_weak_keys=relaxed)


def _verifies(token: str, key: Key, *, relaxed: bool) -> bool:
    try:
        _jws(token, key, relaxed=relaxed)
    except BastionError:
        return False
    return True


@needs_shared
@pytest.mark.parametrize(
    "file",
    [
        "wycheproof/json_web_signature_test.json",
        "wycheproof/json_web_key_test.json",
        "wycheproof/json_web_crypto_test.json",
    ],
)
def test_wycheproof_jose(file: str) -> None:
    doc = load(SHARED / file)
    t = Tally(file)
    deviations = _deviations()
    policy_refused: list[str] = []

    def group_key(g: dict[str, Any]) -> str:
        return json.dumps(g.get("public") or g.get("private"))

    labels: dict[str, list[tuple[str, str]]] = {}
    for g in doc["testGroups"]:
        for case in g["tests"]:
            if isinstance(case.get("jws"), str):
                labels.setdefault(f"{case['jws']} {group_key(g)}", []).append(
                    (str(case["tcId"]), case["result"])
                )

    for g in doc["testGroups"]:
        comment = g.get("comment", "")
        key_obj = g.get("public") or g.get("private")
        if key_obj is None:
            t.skipped.append(f"group {comment!r}: no key")
            continue
        if "keys" in key_obj:
            if len(key_obj["keys"]) != 1:
                t.skipped.append(f"group {comment!r}: a JWK set of several keys belongs to the JWKS layer")
                continue
            key_obj = key_obj["keys"][0]
        key: Key | BastionError
        try:
            key = Key.from_jwk(key_obj)
        except BastionError as e:
            key = e
        for case in g["tests"]:
            cid, result = str(case["tcId"]), case["result"]
            if "jws" not in case:
                assert "jwe" in case, cid
                continue
            token = case["jws"]
            if isinstance(token, str):
                same = labels[f"{token} {group_key(g)}"]
                if (
                    any(r != result for _, r in same)
                    and any(r == "valid" for _, r in same)
                    and result != "valid"
                ):
                    t.skipped.append(f"case {cid} ({comment}, labelled {result}): contradictory labels")
                    continue
            if f"{file}#{cid}" in deviations:
                rejected = not (
                    isinstance(key, Key) and isinstance(token, str) and _verifies(token, key, relaxed=True)
                )
                assert rejected, f"case {cid}: listed as a deliberate rejection but accepted"
                t.skipped.append(f"case {cid}: rejected on purpose: {deviations[f'{file}#{cid}']}")
                continue
            if not isinstance(token, str):
                if result == "valid":
                    t.skipped.append(f"case {cid}: JWS JSON serialisation is not supported")
                    continue
                t.applied += 1
                continue
            t.applied += 1
            if isinstance(key, BastionError):
                ok = False
            else:
                try:
                    _jws(token, key)
                    ok = True
                except InvalidKeyError:
                    if result == "valid":
                        policy_refused.append(cid)
                        ok = _verifies(token, key, relaxed=True)
                    else:
                        ok = False
                        if "hs" not in comment.lower() and _verifies(token, key, relaxed=True):
                            t.failures.append(f"case {cid}: only the key policy rejects it")
                except BastionError:
                    ok = False
            if result == "valid" and not ok:
                t.failures.append(f"case {cid} ({comment}): valid but rejected")
            if result == "invalid" and ok:
                t.failures.append(f"case {cid} ({comment}): invalid but accepted")
        if any("jwe" in c for c in g["tests"]):
            t.skipped.append(f"group {comment!r}: JWE (encryption) is not part of bastion")
    if policy_refused:
        t.skipped.append(f"cases {', '.join(policy_refused)}: verify only with the weak-key policy relaxed")
    t.finish()


def _der_sig_to_fixed(der: bytes, size: int) -> bytes | None:
    """Strict DER ECDSA-Sig-Value to JWS R||S; None when the DER is not canonical."""

    def integer(b: bytes) -> tuple[bytes, bytes] | None:
        if len(b) < 2 or b[0] != 2 or b[1] >= 0x80 or b[1] == 0 or len(b) - 2 < b[1]:
            return None
        v, rest = b[2 : 2 + b[1]], b[2 + b[1] :]
        if v[0] & 0x80 or (len(v) > 1 and v[0] == 0 and not v[1] & 0x80):
            return None
        return v, rest

    if len(der) < 2 or der[0] != 0x30 or der[1] >= 0x80 or len(der) - 2 != der[1]:
        return None
    first = integer(der[2:])
    if first is None:
        return None
    r, rest = first
    second = integer(rest)
    if second is None or second[1]:
        return None
    s = second[0]
    out = b""
    for v in (r, s):
        v = v[1:] if len(v) > 1 and v[0] == 0 else v
        if len(v) > size:
            return None
        out += v.rjust(size, b"\0")
    return out


def _primitive(t: Tally, cid: str, result: str, call: Any) -> None:
    t.applied += 1
    try:
        call()
        ok = True
    except BastionError:
        ok = False
    if result == "valid" and not ok:
        t.failures.append(f"case {cid}: valid but rejected")
    if result == "invalid" and ok:
        t.failures.append(f"case {cid}: invalid but accepted")


@needs_shared
def test_wycheproof_ecdsa_p256() -> None:
    doc = load(SHARED / "wycheproof/ecdsa_secp256r1_sha256_test.json")
    t = Tally("ecdsa_secp256r1_sha256")
    not_representable = 0
    for g in doc["testGroups"]:
        key = Key.from_pem(g["publicKeyPem"])
        for case in g["tests"]:
            fixed = _der_sig_to_fixed(bytes.fromhex(case["sig"]), 32)
            if fixed is None:
                if case["result"] == "valid":
                    t.failures.append(f"case {case['tcId']}: valid signature not canonical DER")
                not_representable += 1
                continue
            msg = bytes.fromhex(case["msg"])
            _primitive(t, str(case["tcId"]), case["result"], lambda m=msg, s=fixed: key.verify("ES256", m, s))
    t.skipped.append(f"{not_representable} cases with malformed DER: JWS carries R||S, never DER")
    t.finish()


@needs_shared
def test_wycheproof_ed25519() -> None:
    doc = load(SHARED / "wycheproof/ed25519_test.json")
    t = Tally("ed25519")
    for g in doc["testGroups"]:
        key = Key.from_jwk(g["publicKeyJwk"])
        for case in g["tests"]:
            msg, sig = bytes.fromhex(case["msg"]), bytes.fromhex(case["sig"])
            _primitive(t, str(case["tcId"]), case["result"], lambda m=msg, s=sig: key.verify("EdDSA", m, s))
    t.finish()


@needs_shared
def test_wycheproof_hmac_sha256() -> None:
    doc = load(SHARED / "wycheproof/hmac_sha256_test.json")
    t = Tally("hmac_sha256")
    for g in doc["testGroups"]:
        if g["tagSize"] != 256:
            t.skipped.append(
                f"group keySize={g['keySize']} tagSize={g['tagSize']}: truncated tags never occur in JWS"
            )
            continue
        for case in g["tests"]:
            k, m, tag = (bytes.fromhex(case[f]) for f in ("key", "msg", "tag"))
            _primitive(
                t,
                str(case["tcId"]),
                case["result"],
                lambda k=k, m=m, tag=tag: Key.hmac(k).verify("HS256", m, tag, allow_weak=True),
            )
    t.finish()


@needs_shared
def test_jose_cookbook() -> None:
    t = Tally("jose-cookbook")
    for file in [
        "jose-cookbook/jws/4_1.rsa_v15_signature.json",
        "jose-cookbook/jws/4_2.rsa-pss_signature.json",
        "jose-cookbook/jws/4_3.ecdsa_signature.json",
        "jose-cookbook/jws/4_4.hmac-sha2_integrity_protection.json",
        "jose-cookbook/curve25519/jws.json",
    ]:
        doc = load(SHARED / file)
        key = Key.from_jwk(doc["input"]["key"])
        alg = doc["input"]["alg"]
        out = native.verify_jws(doc["output"]["compact"], key, key.algorithms)
        assert out["algorithm"] == alg, file
        assert out["payload"].decode() == doc["input"]["payload"], file
        sig_input = doc["signing"]["sig-input"].encode()
        key.verify(alg, sig_input, key.sign(alg, sig_input))
        t.applied += 1
    for name, reason in [
        (
            "4_5.signature_with_detached_content",
            "detached content is JWS-only; a JWT always carries its claims",
        ),
        (
            "4_6.protecting_specific_header_fields",
            "unprotected header fields exist only in JWS JSON serialisation",
        ),
        ("4_7.protecting_content_only", "no protected header: not expressible in compact form"),
        ("4_8.multiple_signatures", "multiple signatures exist only in JWS JSON serialisation"),
    ]:
        t.skipped.append(f"jws/{name}: {reason}")
    doc = load(SHARED / "jose-cookbook/rfc7797/4.2.hmac-sha2_b64_false.json")
    key = Key.from_jwk(doc["input"]["key"])
    compact = f"{doc['signing']['protected_b64u']}..{doc['signing']['sig']}"
    with pytest.raises(BastionError):
        native.verify_jws(compact, key, key.algorithms, critical_extensions=["b64"])
    t.applied += 1
    t.finish()


# ---- client_ip.json ----------------------------------------------------------------------------

CLIENT_IP = load(OWN / "client_ip.json")["cases"]


def _header_value(v: Any) -> str:
    if isinstance(v, str):
        return v
    return str(v.get("prefix", "")) + v["repeat"] * v["count"] + str(v.get("suffix", ""))


@pytest.mark.parametrize("case", CLIENT_IP, ids=[c["name"] for c in CLIENT_IP])
def test_client_ip_vectors(case: dict[str, Any]) -> None:
    headers = [(name, _header_value(value)) for name, value in case["headers"]]
    kwargs: dict[str, Any] = {
        "trusted_proxies": case["trusted"],
        "header": case.get("header", "X-Forwarded-For"),
        "ipv6_prefix": case.get("ipv6_prefix"),
    }
    got_ip = code_of(lambda: native.client_ip(case["peer"], headers, **kwargs))
    got_key = code_of(lambda: native.client_key(case["peer"], headers, **kwargs))
    if "error" in case:
        assert got_ip[0] == case["error"]
        assert got_key[0] == case["error"]
    else:
        assert got_ip == ("valid", case["ip"])
        assert got_key == ("valid", case.get("key", case["ip"]))


def test_client_ip_vector_count() -> None:
    assert len(CLIENT_IP) >= 40


# ---- http.json -------------------------------------------------------------------------------

HTTP = load(OWN / "http.json")


def _answer(a: Any) -> Any:
    if a is None:
        return None
    return {"status": a.status, "headers": [[k, v] for k, v in a.headers.items()], "body": a.body.decode()}


def _expect(case: dict[str, Any], got: tuple[str, Any], field: str) -> None:
    if "error" in case:
        assert got[0] == case["error"]
    else:
        assert got == ("valid", case[field])


@pytest.mark.parametrize("case", HTTP["methods"], ids=[c["name"] for c in HTTP["methods"]])
def test_http_methods_vectors(case: dict[str, Any]) -> None:
    _expect(case, code_of(lambda: native.http_methods(case["spec"])), "names")


@pytest.mark.parametrize("case", HTTP["keys"], ids=[c["name"] for c in HTTP["keys"]])
def test_http_key_vectors(case: dict[str, Any]) -> None:
    f = case["facts"]

    def key() -> str:
        k = native.RequestKey(case["parts"])
        return k.key(f["client"], f["user"], f["method"], f["route"], f["values"])

    _expect(case, code_of(key), "key")


@pytest.mark.parametrize("case", HTTP["problems"], ids=[c["name"] for c in HTTP["problems"]])
def test_http_problem_vectors(case: dict[str, Any]) -> None:
    headers = dict(case["headers"]) if "headers" in case else None
    got = code_of(
        lambda: _answer(
            native.http_problem(
                case["status"],
                case["detail"],
                case["code"],
                retry_after=case.get("retry_after"),
                headers=headers,
                extra=case.get("extra"),
            )
        )
    )
    _expect(case, got, "answer")


@pytest.mark.parametrize("case", HTTP["unauthorized"], ids=[c["name"] for c in HTTP["unauthorized"]])
def test_http_unauthorized_vectors(case: dict[str, Any]) -> None:
    got = code_of(lambda: _answer(native.http_unauthorized(case["detail"], case["code"], case["error"])))
    if "raises" in case:
        assert got[0] == case["raises"]
    else:
        assert got == ("valid", case["answer"])


@pytest.mark.parametrize("case", HTTP["answers"], ids=[c["name"] for c in HTTP["answers"]])
def test_http_answer_vectors(case: dict[str, Any]) -> None:
    got = code_of(
        lambda: _answer(
            native.http_answer_for(case["code"], case.get("retry_after"), case.get("lockout_status", 429))
        )
    )
    _expect(case, got, "answer")


@pytest.mark.parametrize("case", HTTP["authorization"], ids=[c["name"] for c in HTTP["authorization"]])
def test_http_authorization_vectors(case: dict[str, Any]) -> None:
    _expect(case, code_of(lambda: native.http_authorization_token(case["header"], case["schemes"])), "token")


@pytest.mark.parametrize("case", HTTP["roles"], ids=[c["name"] for c in HTTP["roles"]])
def test_http_role_vectors(case: dict[str, Any]) -> None:
    assert native.http_holds_role(case["held"], case["wanted"]) is case["holds"]
