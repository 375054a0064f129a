"""bastion from Python: sign and verify tokens, hash and verify passwords.

Run by `make demo`. Every step prints what happened; nothing here is mocked.
"""

from __future__ import annotations

import time

import bastion
import bastion.jwt as jwt
from bastion.password import PasswordHasher, verify_password
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

SIGNING_KEY = "demo-signing-key-7f3a9c1e5b2d4f6a8c0e2b4d6f8a0c2e"


def step(title: str) -> None:
    print(f"\n== {title}")


def main() -> None:
    print(f"bastion {bastion.__version__} — Python")

    step("HS256 token, the PyJWT way (import bastion.jwt as jwt)")
    now = int(time.time())
    token = jwt.encode(
        {"sub": "42", "username": "ada", "roles": ["admin"], "iat": now, "exp": now + 1800},
        SIGNING_KEY,
        algorithm="HS256",
    )
    print(f"token: {token[:48]}... ({len(token)} bytes)")
    claims = jwt.decode(token, SIGNING_KEY, algorithms=["HS256"])
    print(f"verified claims: {claims}")

    step("A tampered token is refused")
    head, payload, sig = token.split(".")
    forged = f"{head}.{payload}.{sig[:-2]}{'AA' if sig[-2:] != 'AA' else 'BB'}"
    try:
        jwt.decode(forged, SIGNING_KEY, algorithms=["HS256"])
    except jwt.InvalidSignatureError as e:
        print(f"InvalidSignatureError: {e} (code {e.code})")

    step("alg: none is never accepted")
    unsigned = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + payload + "."
    try:
        jwt.decode(unsigned, SIGNING_KEY, algorithms=["HS256"])
    except jwt.InvalidAlgorithmError as e:
        print(f"InvalidAlgorithmError: {e}")

    step("An expired token, on an injected clock")
    clock = bastion.ManualClock(now)
    verifier = bastion.Verifier(bastion.Key.hmac(SIGNING_KEY), ["HS256"], clock=clock)
    print(f"at t+0:    sub={verifier.decode(token)['sub']}")
    clock.advance(1800)
    try:
        verifier.decode(token)
    except jwt.ExpiredSignatureError as e:
        print(f"at t+1800: ExpiredSignatureError: {e}")

    step("ES256 with typed keys; the public key can never be an HMAC secret")
    private = ec.generate_private_key(ec.SECP256R1())
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signer = bastion.Key.from_pem(private_pem)
    public = bastion.Key.from_pem(public_pem)
    print(f"keys: {signer!r} / {public!r}")
    es_token = jwt.encode({"sub": "42", "exp": now + 600}, signer, algorithm="ES256")
    print(f"ES256 claims: {jwt.decode(es_token, public, algorithms=['ES256'])}")
    try:
        bastion.Key.hmac(public_pem)
    except jwt.InvalidKeyError as e:
        print(f"Key.hmac(public PEM): InvalidKeyError: {e}")

    step("Passwords: Argon2id with argon2-cffi's defaults (RFC 9106 low-memory)")
    ph = PasswordHasher()
    started = time.perf_counter()
    stored = ph.hash("correct horse battery staple")
    print(f"hash ({(time.perf_counter() - started) * 1000:.0f} ms): {stored}")
    print(f"verify right password: {ph.verify(stored, 'correct horse battery staple')}")
    print(f"verify wrong password: {verify_password(stored, 'Tr0ub4dor&3')}")

    step("Django's own hash formats verify unchanged")
    django_pbkdf2 = (
        "pbkdf2_sha256$1200000$abcdefghijklmnopqrstuv$4nUVMnB05qriJHJ1+jCMx8NiTVq+isKh6zMzJqbQ0gs="
    )
    print(
        f"pbkdf2_sha256 (1.2M iterations): {verify_password(django_pbkdf2, 'correct horse battery staple')}"
    )
    print(f"needs rehash for Argon2id defaults: {ph.check_needs_rehash(django_pbkdf2)}")

    step("Token pairs on the embedded store: rotation, reuse detection, revocation")
    events: list[dict[str, str]] = []
    tokens = bastion.TokenService(bastion.Key.hmac(SIGNING_KEY), on_event=events.append)
    first = tokens.issue_pair("42", {"username": "ada", "roles": ["staff"]})
    print(f"issued: {first!r}")
    second = tokens.rotate(first.refresh)
    print(f"rotated: same family {second.family == first.family}, claims {tokens.verify(second.access)}")
    try:
        tokens.rotate(first.refresh)
    except bastion.TokenReusedError as e:
        print(f"old refresh token again: TokenReusedError: {e}")
        print(f"event: {events[-1]}")
    try:
        tokens.verify(second.access)
    except bastion.TokenRevokedError as e:
        print(f"the family's newest access token: TokenRevokedError: {e}")
    third = tokens.issue_pair("42")
    time.sleep(0.001)
    tokens.revoke_all("42")
    try:
        tokens.verify(third.access)
    except bastion.TokenRevokedError:
        print("revoke_all('42'): every earlier token of subject 42 is refused")
    print(f"a new login works: {tokens.verify(tokens.issue_pair('42').access)['sub']}")


if __name__ == "__main__":
    main()
