"""JWK Sets, the JWKS client and the PyJWT-compatible ``PyJWKClient``, against a
local HTTPS server (``http.server`` + ``ssl``) whose certificate the test makes
with its own CA. Lifespan, cooldown and staleness are driven by a ManualClock."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import ssl
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt as pyjwt
import pytest
from bastion import (
    InvalidAlgorithmError,
    InvalidArgumentError,
    InvalidSignatureError,
    InvalidTokenError,
    JwksClient,
    Key,
    KeyNotFoundError,
    KeySet,
    ManualClock,
    PyJWKClientConnectionError,
    PyJWKClientError,
    PyJWKSetError,
    sign,
)
from bastion import jwt as compat
from conftest import ASYMMETRIC, NOW
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CLAIMS = {"sub": "user-1", "exp": NOW + 1_000_000}
PATH = "/.well-known/jwks.json"

RSA1 = Key.from_der(ASYMMETRIC["RS256"].private_der).with_kid("rsa1")
EC1 = Key.from_der(ASYMMETRIC["ES256"].private_der).with_kid("ec1")
_OTHER_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA2 = Key.from_der(_OTHER_RSA.private_bytes(ser.Encoding.DER, ser.PrivateFormat.PKCS8, ser.NoEncryption()))
RSA2 = RSA2.with_kid("rsa2")


def jwks(*keys: Key, alg: dict[str, str] | None = None) -> str:
    out = []
    for k in keys:
        j = k.public_jwk()
        if alg and j.get("kid") in alg:
            j["alg"] = alg[j["kid"]]
        out.append(j)
    return json.dumps({"keys": out})


def token(key: Key, alg: str, **kw: Any) -> str:
    return sign(CLAIMS, key, alg, **kw)


# ---- certificates and the server ---------------------------------------------------


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca(cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(ser.Encoding.PEM).decode()


class Tls:
    """A test CA and a server certificate for localhost / 127.0.0.1 it signed."""

    def __init__(self, tmp: Path) -> None:
        ca_key, ca_cert = _ca("bastion test CA")
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name("localhost"))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        self.ca_pem = _pem(ca_cert)
        self.cert_file = tmp / "server.pem"
        self.key_file = tmp / "server.key"
        self.cert_file.write_text(_pem(cert))
        self.key_file.write_bytes(
            key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption())
        )


class Server:
    """A JWKS endpoint that counts its requests; ``reply`` says how it answers."""

    def __init__(self, tls: Tls | None, reply: tuple[str, Any]) -> None:
        self.reply = reply
        self.hits = 0
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                with lock:
                    server.hits += 1
                    server.paths.append(self.path)
                    server.headers.append({k.lower(): v for k, v in self.headers.items()})
                kind, value = server.reply
                if kind == "slow":
                    delay, value = value
                    time.sleep(delay)
                    kind = "json"
                try:
                    if kind == "json":
                        body = value.encode()
                        self.send_response(200)
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body)
                    elif kind == "status":
                        self.send_response(value)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                    elif kind == "redirect":
                        self.send_response(302)
                        self.send_header("Location", value)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                    elif kind == "huge":
                        self.send_response(200)
                        if value:
                            self.send_header("Content-Length", str(50_000_000))
                        self.end_headers()
                        for _ in range(800):
                            self.wfile.write(b" " * 65536)
                except OSError:
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.scheme = "http"
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(tls.cert_file, tls.key_file)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.httpd.server_address[1]}{PATH}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return Tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def serve(tls: Tls) -> Iterator[Any]:
    servers: list[Server] = []

    def start(reply: tuple[str, Any] | None = None, *, https: bool = True) -> Server:
        s = Server(tls if https else None, reply or ("json", jwks(RSA1, EC1)))
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


def client(server: Server, tls: Tls, clock: ManualClock, **kw: Any) -> JwksClient:
    return JwksClient(server.url, ca_pem=tls.ca_pem, clock=clock, **kw)


# ---- KeySet --------------------------------------------------------------------------


def test_key_set_parses_strictly_and_reports_skipped_keys() -> None:
    enc = {**RSA2.public_jwk(), "use": "enc", "kid": "enc"}
    doc = {"keys": [RSA1.public_jwk(), enc, {"kty": "OKP", "crv": "X25519", "x": "AA"}, EC1.public_jwk()]}
    for form in (doc, json.dumps(doc), json.dumps(doc).encode()):
        ks = KeySet(form)
        assert [k.kid for k in ks.keys] == ["rsa1", "ec1"]
        assert len(ks) == 2
        assert [s["index"] for s in ks.skipped] == [1, 2]
        assert ks.skipped[0]["kid"] == "enc"
        assert "sig" in ks.skipped[0]["reason"]
    assert "rsa1" in repr(KeySet(doc))
    with pytest.raises(PyJWKSetError) as e:
        KeySet({"keys": [enc]})
    assert e.value.code == "INVALID_KEY_SET"
    for bad in ("[]", '{"keys": {}}', '{"keys": [], "keys": []}', "{"):
        with pytest.raises(PyJWKSetError):
            KeySet(bad)
    with pytest.raises(PyJWKSetError, match="more than the limit"):
        KeySet({"keys": [RSA1.public_jwk()] * 3}, max_keys=2)
    with pytest.raises(PyJWKSetError, match="larger than"):
        KeySet(json.dumps(doc), max_size=100)
    with pytest.raises(TypeError):
        KeySet(42)  # type: ignore[arg-type]


def test_key_set_decodes_by_kid_and_algorithm(clock: ManualClock) -> None:
    ks = KeySet(jwks(RSA1, EC1, alg={"rsa1": "RS256"}))
    assert ks.decode(token(RSA1, "RS256"), ["RS256", "ES256"], clock=clock) == CLAIMS
    assert ks.decode(token(EC1, "ES256"), ["RS256", "ES256"], clock=clock) == CLAIMS
    # The key is bound to RS256: a PS256 token naming it finds no key.
    with pytest.raises(KeyNotFoundError):
        ks.decode(token(RSA1, "PS256"), ["RS256", "PS256"], clock=clock)
    # An ES256 token naming the RSA key's kid.
    with pytest.raises(KeyNotFoundError):
        ks.decode(token(EC1, "ES256", kid="rsa1"), ["RS256", "ES256"], clock=clock)
    # The accepted algorithms always come from the caller.
    with pytest.raises(InvalidAlgorithmError):
        ks.decode(token(EC1, "ES256"), ["RS256"], clock=clock)
    assert ks.get_signing_key("ec1").kid == "ec1"
    assert ks.get_signing_key(None, "ES256").kid == "ec1"
    with pytest.raises(KeyNotFoundError) as e:
        ks.get_signing_key("nope")
    assert isinstance(e.value, InvalidTokenError) and isinstance(e.value, PyJWKClientError)
    assert e.value.code == "KEY_NOT_FOUND"


def test_a_token_without_kid_needs_exactly_one_fitting_key(clock: ManualClock) -> None:
    bare = Key.from_der(ASYMMETRIC["RS256"].private_der)
    t = sign(CLAIMS, bare, "RS256")
    assert KeySet(jwks(RSA1, EC1)).decode(t, ["RS256"], clock=clock) == CLAIMS
    with pytest.raises(KeyNotFoundError):
        KeySet(jwks(RSA1, RSA2)).decode(t, ["RS256"], clock=clock)


def test_an_hmac_token_keyed_with_the_public_key_is_rejected(clock: ManualClock) -> None:
    ks = KeySet(jwks(RSA1))
    jwk = RSA1.public_jwk()
    header = _b64(b'{"alg":"HS256","kid":"rsa1","typ":"JWT"}')
    body = _b64(json.dumps(CLAIMS).encode())
    for secret in (json.dumps(jwk).encode(), jwk["n"].encode(), ASYMMETRIC["RS256"].public_pem):
        mac = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
        forged = f"{header}.{body}.{_b64(mac)}"
        with pytest.raises(KeyNotFoundError):
            ks.decode(forged, ["RS256", "HS256"], clock=clock)


def _b64(b: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


# ---- JwksClient ------------------------------------------------------------------------


def test_fetches_once_and_verifies(serve: Any, tls: Tls, clock: ManualClock) -> None:
    server = serve()
    c = client(server, tls, clock)
    assert c.decode(token(RSA1, "RS256"), ["RS256", "ES256"]) == CLAIMS
    assert c.decode(token(EC1, "ES256").encode(), "ES256") == CLAIMS
    assert c.get_signing_key("ec1").family == "EC P-256"
    assert server.hits == 1
    s = c.status()
    assert (s["keys"], s["fetches"], s["failures"], s["stale"]) == (2, 1, 0, False)
    assert s["fetched_at"] == NOW and s["expires_at"] == NOW + 300
    assert c.url == server.url
    assert repr(c) == f"<JwksClient url={server.url!r}>"
    assert server.headers[0]["user-agent"].startswith("bastion-jwks/")


def test_lifespan_and_refetch(serve: Any, tls: Tls, clock: ManualClock) -> None:
    server = serve()
    c = client(server, tls, clock)
    c.get_signing_key("rsa1")
    clock.advance(299)
    c.get_signing_key("rsa1")
    assert server.hits == 1
    clock.advance(2)
    c.get_signing_key("rsa1")
    assert server.hits == 2


def test_unknown_kid_refetches_once_then_cools_down(serve: Any, tls: Tls, clock: ManualClock) -> None:
    server = serve()
    c = client(server, tls, clock)
    c.get_signing_key("rsa1")
    server.reply = ("json", jwks(RSA1, RSA2, EC1))
    t2 = token(RSA2, "RS256")
    with pytest.raises(KeyNotFoundError):
        c.decode(t2, ["RS256"])  # right after a fetch: no refetch
    assert server.hits == 1
    clock.advance(31)
    assert c.decode(t2, ["RS256"]) == CLAIMS
    assert server.hits == 2
    # A flood of random kids within the cooldown makes no request.
    for i in range(300):
        with pytest.raises(KeyNotFoundError):
            c.decode(token(RSA2, "RS256", kid=f"random-{i}"), ["RS256"])
        clock.advance(0.05)
    assert server.hits == 2
    clock.advance(20)
    for i in range(50):
        with pytest.raises(KeyNotFoundError):
            c.get_signing_key(f"again-{i}")
    assert server.hits == 3


def test_concurrent_misses_make_one_request(serve: Any, tls: Tls, clock: ManualClock) -> None:
    server = serve(("slow", (0.3, jwks(RSA1, EC1))))
    c = client(server, tls, clock)
    t = token(RSA1, "RS256")
    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(lambda _: c.decode(t, ["RS256"]), range(50)))
    assert results == [CLAIMS] * 50
    assert server.hits == 1

    clock.advance(301)

    async def main() -> list[Any]:
        return await asyncio.gather(*(c.adecode(t, ["RS256"]) for _ in range(50)))

    assert asyncio.run(main()) == [CLAIMS] * 50
    assert server.hits == 2


def test_concurrent_coroutines_on_a_cold_cache_make_one_request(
    serve: Any, tls: Tls, clock: ManualClock
) -> None:
    server = serve(("slow", (0.3, jwks(RSA1, EC1))))
    c = client(server, tls, clock)

    async def main() -> list[Any]:
        return await asyncio.gather(*(c.aget_signing_key("ec1") for _ in range(50)))

    keys = asyncio.run(main())
    assert [k.kid for k in keys] == ["ec1"] * 50
    assert server.hits == 1


def test_a_cancelled_caller_does_not_cancel_the_fetch(serve: Any, tls: Tls, clock: ManualClock) -> None:
    server = serve(("slow", (0.3, jwks(RSA1))))
    c = client(server, tls, clock)

    async def main() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(c.aget_signing_key("rsa1"), 0.05)
        # The fetch went on; a later caller joins it or finds its result.
        assert (await c.aget_signing_key("rsa1")).kid == "rsa1"

    asyncio.run(main())
    assert server.hits == 1


def test_async_twins(serve: Any, tls: Tls, clock: ManualClock) -> None:
    server = serve()
    c = client(server, tls, clock)

    async def main() -> None:
        key = await c.aget_signing_key("rsa1")
        assert isinstance(key, Key) and key.kid == "rsa1"
        assert len(await c.akey_set()) == 2
        assert len(await c.arefresh()) == 2
        with pytest.raises(KeyNotFoundError):
            await c.aget_signing_key("missing")
        with pytest.raises(InvalidSignatureError):
            await c.adecode(token(RSA2, "RS256", kid="rsa1"), ["RS256"])

    asyncio.run(main())
    assert server.hits == 2


@pytest.mark.parametrize(
    ("reply", "kw", "message"),
    [
        (("status", 500), {}, "HTTP status 500"),
        (("json", '{"keys": ['), {}, "not usable"),
        (("json", '{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}'), {}, "not usable"),
        (("huge", True), {"max_size": 4096}, "larger than 4096 bytes"),
        (("huge", False), {"max_size": 4096}, "larger than 4096 bytes"),
        (("slow", (3, "{}")), {"timeout": 0.3}, "within"),
        (("redirect", "http://127.0.0.1:1/jwks"), {}, "redirects are not followed"),
    ],
)
def test_failed_fetches_raise_a_typed_error(
    serve: Any, tls: Tls, clock: ManualClock, reply: Any, kw: Any, message: str
) -> None:
    c = client(serve(reply), tls, clock, **kw)
    with pytest.raises(PyJWKClientConnectionError, match=message) as e:
        c.get_signing_key("rsa1")
    assert e.value.code == "JWKS_FETCH_FAILED"
    assert isinstance(e.value, ConnectionError) and isinstance(e.value, PyJWKClientError)


def test_server_down(tls: Tls, clock: ManualClock) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = JwksClient(f"https://127.0.0.1:{port}/jwks", ca_pem=tls.ca_pem, clock=clock)
    with pytest.raises(PyJWKClientConnectionError, match="cannot connect"):
        c.decode(token(RSA1, "RS256"), ["RS256"])
    # Retried at most once per cooldown.
    with pytest.raises(PyJWKClientConnectionError, match="next attempt"):
        c.get_signing_key("rsa1")
    assert c.status()["fetches"] == 1


def test_the_last_good_set_is_served_while_refreshes_fail(serve: Any, tls: Tls, clock: ManualClock) -> None:
    server = serve()
    c = client(server, tls, clock)
    t = token(RSA1, "RS256")
    c.decode(t, ["RS256"])
    server.reply = ("status", 503)
    clock.advance(301)
    assert c.decode(t, ["RS256"]) == CLAIMS
    s = c.status()
    assert s["stale"] and s["failures"] == 1 and s["last_error_code"] == "JWKS_FETCH_FAILED"
    assert "503" in s["last_error"]
    clock.advance(10)
    c.decode(t, ["RS256"])
    assert server.hits == 2
    clock.set(NOW + 300 + 3600 + 1)
    with pytest.raises(PyJWKClientConnectionError):
        c.decode(t, ["RS256"])
    server.reply = ("json", jwks(RSA1))
    clock.advance(31)
    assert c.decode(t, ["RS256"]) == CLAIMS
    assert not c.status()["stale"]


def test_refresh_reports_its_own_error(serve: Any, tls: Tls, clock: ManualClock) -> None:
    server = serve()
    c = client(server, tls, clock)
    assert len(c.refresh()) == 2
    server.reply = ("status", 404)
    with pytest.raises(PyJWKClientConnectionError, match="404"):
        c.refresh()
    assert [k.kid for k in c.key_set().keys] == ["rsa1", "ec1"]


def test_plain_http_needs_allow_http(serve: Any, tls: Tls, clock: ManualClock) -> None:
    server = serve(https=False)
    with pytest.raises(InvalidArgumentError, match="https"):
        JwksClient(server.url, clock=clock)
    c = JwksClient(server.url, allow_http=True, clock=clock)
    assert c.get_signing_key("rsa1").kid == "rsa1"
    for bad in ("ftp://x/jwks", "file:///etc/passwd", "/jwks", "https://u:p@h/jwks"):
        with pytest.raises(InvalidArgumentError):
            JwksClient(bad, allow_http=True)


def test_a_certificate_from_an_unknown_ca_is_refused(serve: Any, tls: Tls, clock: ManualClock) -> None:
    server = serve()
    _, other = _ca("another CA")
    for ca_pem in (None, _pem(other)):
        c = JwksClient(server.url, ca_pem=ca_pem, clock=clock)
        with pytest.raises(PyJWKClientConnectionError, match="TLS"):
            c.get_signing_key("rsa1")
    assert server.hits == 0
    with pytest.raises(InvalidArgumentError):
        JwksClient(server.url, ca_pem="not a certificate")


def test_embedded_keys_and_key_urls_are_ignored(serve: Any, tls: Tls, clock: ManualClock) -> None:
    server = serve()
    c = client(server, tls, clock)
    attacker = RSA2
    evil_url = server.url.replace(PATH, "/attacker.json")
    headers = {"jku": evil_url, "x5u": evil_url, "jwk": attacker.public_jwk()}
    with pytest.raises(InvalidSignatureError):
        c.decode(token(attacker, "RS256", kid="rsa1", headers=headers), ["RS256"])
    with pytest.raises(KeyNotFoundError):
        c.decode(token(attacker, "RS256", kid="rsa2", headers=headers), ["RS256"])
    assert set(server.paths) == {PATH}


def test_options_are_checked(clock: ManualClock) -> None:
    url = "https://idp.example.com/jwks"
    for kw in ({"lifespan": -1}, {"timeout": 0}, {"max_size": 0}, {"cooldown": float("nan")}):
        with pytest.raises(InvalidArgumentError):
            JwksClient(url, **kw)
    with pytest.raises(InvalidArgumentError):
        JwksClient(url, headers={"Host": "x"})
    with pytest.raises(TypeError):
        JwksClient(url, headers=["x"])  # type: ignore[arg-type]


def test_headers_are_sent(serve: Any, tls: Tls, clock: ManualClock) -> None:
    server = serve()
    c = client(server, tls, clock, headers={"X-Api-Key": "k-1", "User-Agent": "app/1"})
    c.get_signing_key("rsa1")
    assert server.headers[0]["x-api-key"] == "k-1"
    assert server.headers[0]["user-agent"] == "app/1"


# ---- PyJWKClient (PyJWT-compatible) ------------------------------------------------------


def test_pyjwkclient_signing_key_from_jwt(serve: Any, tls: Tls, clock: ManualClock) -> None:
    server = serve()
    jwks_client = compat.PyJWKClient(server.url, ca_pem=tls.ca_pem, clock=clock)
    for key, alg in ((RSA1, "RS256"), (EC1, "ES256"), (RSA1, "PS256")):
        t = token(key, alg)
        signing_key = jwks_client.get_signing_key_from_jwt(t)
        assert signing_key.key_id == key.kid
        assert signing_key.algorithm_name == alg
        assert compat.decode(t, key=signing_key.key, algorithms=[alg], clock=clock) == CLAIMS
        assert compat.decode(t, key=signing_key, clock=clock) == CLAIMS
    assert server.hits == 1
    with pytest.raises(compat.PyJWKClientError, match='Unable to find a signing key that matches: "nope"'):
        jwks_client.get_signing_key("nope")
    keys = jwks_client.get_signing_keys()
    assert [k.key_id for k in keys] == ["rsa1", "ec1"]
    assert keys[0].key_type == "RSA" and keys[0].public_key_use == "sig"
    assert compat.PyJWKClient.match_kid(keys, "ec1") is keys[1]
    assert compat.PyJWKClient.match_kid(keys, "x") is None
    assert [k.key_id for k in jwks_client.get_jwk_set()] == ["rsa1", "ec1"]
    assert [k["kid"] for k in jwks_client.fetch_data()["keys"]] == ["rsa1", "ec1"]
    assert jwks_client.client.status()["keys"] == 2

    async def main() -> None:
        k = await jwks_client.aget_signing_key_from_jwt(token(EC1, "ES256"))
        assert k.key_id == "ec1"
        assert (await jwks_client.aget_signing_key("rsa1")).key_id == "rsa1"

    asyncio.run(main())


def test_pyjwkclient_arguments(serve: Any, tls: Tls) -> None:
    server = serve()
    with pytest.raises(compat.PyJWKClientError, match="Lifespan"):
        compat.PyJWKClient(server.url, lifespan=0)
    with pytest.raises(compat.PyJWKClientError, match="ssl_context"):
        compat.PyJWKClient(server.url, ssl_context=ssl.create_default_context())
    with pytest.raises(compat.PyJWKClientError, match="https"):
        compat.PyJWKClient(server.url.replace("https", "http"))
    # Without the set cache, every call fetches (PyJWT's cache_jwk_set=False).
    c = compat.PyJWKClient(server.url, cache_jwk_set=False, ca_pem=tls.ca_pem, headers={"X-T": 1})
    c.get_signing_key("rsa1")
    c.get_signing_key("rsa1")
    assert server.hits == 2
    assert server.headers[0]["x-t"] == "1"
    with pytest.raises(compat.PyJWKClientConnectionError):
        compat.PyJWKClient(server.url).get_signing_key("rsa1")  # our CA is not trusted


def test_pyjwkclient_agrees_with_pyjwt(serve: Any, tls: Tls) -> None:
    server = serve()
    ctx = ssl.create_default_context(cadata=tls.ca_pem)
    theirs = pyjwt.PyJWKClient(server.url, ssl_context=ctx)
    ours = compat.PyJWKClient(server.url, ca_pem=tls.ca_pem)
    now = int(time.time())
    claims = {"sub": "u", "iat": now, "exp": now + 60}
    for key, alg in ((RSA1, "RS256"), (EC1, "ES256")):
        t = sign(claims, key, alg)
        a = pyjwt.decode(t, theirs.get_signing_key_from_jwt(t).key, algorithms=[alg])
        b = compat.decode(t, ours.get_signing_key_from_jwt(t).key, algorithms=[alg])
        assert a == b == claims


def test_client_exceptions_match_pyjwt_hierarchy() -> None:
    names = [
        "PyJWTError",
        "PyJWKClientError",
        "PyJWKClientConnectionError",
        "PyJWKSetError",
        "InvalidTokenError",
    ]
    for a in names:
        for b in names:
            ours = issubclass(getattr(compat, a), getattr(compat, b))
            theirs = issubclass(getattr(pyjwt.exceptions, a), getattr(pyjwt.exceptions, b))
            assert ours == theirs, (a, b)
        assert getattr(compat.exceptions, a) is getattr(compat, a)
