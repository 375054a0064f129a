"""Client IP resolution through the Python binding: argument forms (mappings,
``request.META``, pairs, ASGI bytes), typed errors. The rules themselves are
covered by ``tests/vectors/client_ip.json`` (see ``test_vectors.py``)."""

from __future__ import annotations

import pytest
from bastion import BastionError, InvalidArgumentError, client_ip, client_key


def test_mapping_headers() -> None:
    headers = {"X-Forwarded-For": "6.6.6.6, 198.51.100.9"}
    assert client_ip("10.0.0.1", headers, trusted_proxies=["10.0.0.0/8"]) == "198.51.100.9"
    assert client_ip("10.0.0.1", headers) == "10.0.0.1"


def test_django_meta() -> None:
    meta = {
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_X_FORWARDED_FOR": "6.6.6.6, 198.51.100.9",
        "wsgi.input": object(),
        "SERVER_PORT": 8000,
    }
    assert client_ip(meta["REMOTE_ADDR"], meta, trusted_proxies=("loopback",)) == "198.51.100.9"


def test_pairs_and_bytes() -> None:
    raw = [(b"x-forwarded-for", b"6.6.6.6"), (b"x-forwarded-for", b"198.51.100.9")]
    assert client_ip("10.0.0.1", raw, trusted_proxies="10.0.0.0/8") == "198.51.100.9"
    bad_utf8 = [(b"x-forwarded-for", b"6.6.6.6, \xff")]
    assert client_ip("10.0.0.1", bad_utf8, trusted_proxies="10.0.0.0/8") == "10.0.0.1"
    with pytest.raises(TypeError):
        client_ip("10.0.0.1", [("x-forwarded-for", 1)], trusted_proxies="10.0.0.0/8")


def test_hops_and_forwarded() -> None:
    headers = [("X-Forwarded-For", "1.1.1.1, 2.2.2.2")]
    assert client_ip("3.3.3.3", headers, trusted_proxies=1) == "2.2.2.2"
    fwd = {"Forwarded": 'for="[2001:db8::1]:4711"'}
    assert client_ip("::1", fwd, trusted_proxies=["::1"], header="Forwarded") == "2001:db8::1"
    with pytest.raises(TypeError):
        client_ip("3.3.3.3", headers, trusted_proxies=True)


def test_keys() -> None:
    assert client_key("2001:db8:1:2::77", {}, ipv6_prefix=64) == "2001:db8:1:2::/64"
    assert client_key("::ffff:1.2.3.4", {}, ipv6_prefix=64) == "1.2.3.4"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"trusted_proxies": ["10.0.0.1/8"]},
        {"trusted_proxies": ["0.0.0.0/0"]},
        {"trusted_proxies": 256},
        {"ipv6_prefix": 0},
        {"ipv6_prefix": 1000},
        {"header": "X-Client-IP"},
    ],
)
def test_invalid_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidArgumentError) as e:
        client_key("10.0.0.1", {}, **kwargs)  # type: ignore[arg-type]
    assert e.value.code == "INVALID_ARGUMENT"
    assert isinstance(e.value, (BastionError, ValueError))


def test_bad_peer() -> None:
    with pytest.raises(InvalidArgumentError):
        client_ip("", {})
