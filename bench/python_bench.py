"""Python benchmarks: bastion against PyJWT and argon2-cffi, side by side in one run.

Run with `make bench` (release build). Prints a table and writes bench/results/python.json.
Timings are the best of several repeats (µs per operation); ratios are peer / bastion.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import threading
import time
import timeit
from pathlib import Path

import argon2
import bastion
import bastion.jwt as bjwt
import jwt as pyjwt
from bastion.password import PasswordHasher as BastionHasher
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

RESULTS = Path(__file__).parent / "results"
NOW = int(time.time())
SECRET = "k8Jd93hsQ0-bench-secret-2Xz7pL4mN1vB6cR9tY3wE5uI8oA0sD"
CLAIMS = {
    "sub": "1234567890",
    "name": "Ada Lovelace",
    "username": "ada",
    "roles": ["admin", "editor"],
    "iss": "https://auth.example.com",
    "aud": "api.example.com",
    "iat": NOW,
    "exp": NOW + 3600,
}
DECODE_KW = {"audience": "api.example.com", "issuer": "https://auth.example.com"}


def per_op_us(fn, number: int, repeat: int = 5) -> float:
    best = min(timeit.repeat(fn, number=number, repeat=repeat))
    return best / number * 1e6


rows: list[dict[str, object]] = []


def compare(group: str, op: str, peer_name: str, peer, ours, number: int) -> None:
    # Check both produce a usable result before timing.
    peer()
    ours()
    p = per_op_us(peer, number)
    b = per_op_us(ours, number)
    rows.append({"group": group, "op": op, "peer": peer_name, "peer_us": p, "bastion_us": b, "ratio": p / b})
    print(f"{group:<10} {op:<38} {peer_name:<12} {p:>10.2f} µs  bastion {b:>9.2f} µs   {p / b:>6.1f}x")


def jwt_benchmarks() -> None:
    # Every decode row below runs with the verified-token cache OFF (each call
    # decodes and checks the signature); the "seen before" rows turn it on.
    cache_size = bastion.set_verified_token_cache_size(0)
    # HS256: PyJWT and bastion's PyJWT-compatible API, same str key, with claim validation.
    tok_peer = pyjwt.encode(CLAIMS, SECRET, algorithm="HS256")
    tok_ours = bjwt.encode(CLAIMS, SECRET, algorithm="HS256")
    compare(
        "HS256",
        "encode",
        "PyJWT",
        lambda: pyjwt.encode(CLAIMS, SECRET, algorithm="HS256"),
        lambda: bjwt.encode(CLAIMS, SECRET, algorithm="HS256"),
        20000,
    )
    compare(
        "HS256",
        "decode + exp/aud/iss validation",
        "PyJWT",
        lambda: pyjwt.decode(tok_peer, SECRET, algorithms=["HS256"], **DECODE_KW),
        lambda: bjwt.decode(tok_ours, SECRET, algorithms=["HS256"], **DECODE_KW),
        20000,
    )
    verifier = bastion.Verifier(
        bastion.Key.hmac(SECRET), ["HS256"], audience="api.example.com", issuer="https://auth.example.com"
    )
    compare(
        "HS256",
        "decode (bastion.Verifier, typed key)",
        "PyJWT",
        lambda: pyjwt.decode(tok_peer, SECRET, algorithms=["HS256"], **DECODE_KW),
        lambda: verifier.decode(tok_ours),
        20000,
    )

    for alg, private in (
        ("RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        ("ES256", ec.generate_private_key(ec.SECP256R1())),
    ):
        public = private.public_key()
        pem_private = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        pem_public = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
        tok = pyjwt.encode(CLAIMS, private, algorithm=alg)
        n = 300 if alg == "RS256" else 2000
        compare(
            alg,
            "encode (PEM string key)",
            "PyJWT",
            lambda alg=alg, pem=pem_private: pyjwt.encode(CLAIMS, pem, algorithm=alg),
            lambda alg=alg, pem=pem_private: bjwt.encode(CLAIMS, pem, algorithm=alg),
            n,
        )
        compare(
            alg,
            "decode (key object, validation)",
            "PyJWT",
            lambda alg=alg, tok=tok, public=public: pyjwt.decode(tok, public, algorithms=[alg], **DECODE_KW),
            lambda alg=alg, tok=tok, public=public: bjwt.decode(tok, public, algorithms=[alg], **DECODE_KW),
            3000,
        )
        compare(
            alg,
            "decode (PEM string key, validation)",
            "PyJWT",
            lambda alg=alg, tok=tok, pem=pem_public: pyjwt.decode(tok, pem, algorithms=[alg], **DECODE_KW),
            lambda alg=alg, tok=tok, pem=pem_public: bjwt.decode(tok, pem, algorithms=[alg], **DECODE_KW),
            3000,
        )
        bastion.set_verified_token_cache_size(cache_size)
        compare(
            alg,
            "decode, token seen before (verified cache)",
            "PyJWT",
            lambda alg=alg, tok=tok, public=public: pyjwt.decode(tok, public, algorithms=[alg], **DECODE_KW),
            lambda alg=alg, tok=tok, public=public: bjwt.decode(tok, public, algorithms=[alg], **DECODE_KW),
            3000,
        )
        bastion.set_verified_token_cache_size(0)
    bastion.set_verified_token_cache_size(cache_size)
    raw_signature_baseline()


def raw_signature_baseline() -> None:
    """The ES256 signature check alone, OpenSSL (via cryptography) against AWS-LC
    (via bastion): the floor under any ES256 decode."""
    private = ec.generate_private_key(ec.SECP256R1())
    public = private.public_key()
    msg = b"e" * 330
    der = private.sign(msg, ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    fixed = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    key = bastion.Key.from_der(
        public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    compare(
        "ES256",
        "signature check only (no JWT)",
        "cryptography",
        lambda: public.verify(der, msg, ec.ECDSA(hashes.SHA256())),
        lambda: key.verify("ES256", msg, fixed),
        3000,
    )


def password_benchmarks() -> None:
    params = {"time_cost": 3, "memory_cost": 65536, "parallelism": 4, "hash_len": 32, "salt_len": 16}
    peer = argon2.PasswordHasher(**params)
    ours = BastionHasher(**params)
    stored_peer = peer.hash("correct horse battery staple")
    stored_ours = ours.hash("correct horse battery staple")
    compare(
        "argon2id",
        "verify t=3 m=64MiB p=4 (argon2-cffi default)",
        "argon2-cffi",
        lambda: peer.verify(stored_peer, "correct horse battery staple"),
        lambda: ours.verify(stored_ours, "correct horse battery staple"),
        8,
    )
    compare(
        "argon2id",
        "hash t=3 m=64MiB p=4",
        "argon2-cffi",
        lambda: peer.hash("correct horse battery staple"),
        lambda: ours.hash("correct horse battery staple"),
        8,
    )
    single = {"time_cost": 2, "memory_cost": 19456, "parallelism": 1}
    p1 = argon2.PasswordHasher(**single)
    o1 = BastionHasher(**single)
    compare(
        "argon2id",
        "hash t=2 m=19MiB p=1 (OWASP)",
        "argon2-cffi",
        lambda: p1.hash("correct horse battery staple"),
        lambda: o1.hash("correct horse battery staple"),
        20,
    )


def gil_scaling() -> dict[str, float]:
    """Hashes per second with one thread and with two threads, parallelism=1."""
    hasher = BastionHasher(time_cost=2, memory_cost=19456, parallelism=1)
    duration = 3.0

    def run(threads: int) -> float:
        counts = [0] * threads
        stop = time.perf_counter() + duration

        def worker(i: int) -> None:
            while time.perf_counter() < stop:
                hasher.hash("correct horse battery staple")
                counts[i] += 1

        ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return sum(counts) / duration

    one = run(1)
    two = run(2)
    print(f"argon2id p=1 hashes/s: 1 thread {one:.1f}, 2 threads {two:.1f}  -> {two / one:.2f}x")
    return {"one_thread_per_s": one, "two_threads_per_s": two, "scaling": two / one}


def main() -> None:
    RESULTS.mkdir(exist_ok=True)
    print(f"Python {platform.python_version()}, {os.cpu_count()} cores, PyJWT {pyjwt.__version__}")
    jwt_benchmarks()
    password_benchmarks()
    scaling = gil_scaling()
    out = {
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "pyjwt": pyjwt.__version__,
        "argon2_cffi": importlib.metadata.version("argon2-cffi"),
        "rows": rows,
        "gil_scaling": scaling,
    }
    (RESULTS / "python.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
