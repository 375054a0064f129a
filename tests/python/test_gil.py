"""Hashing and RSA signing release the GIL: another Python thread makes progress meanwhile.

The switch interval is raised so CPython never forces a thread switch during the
test: a thread holding the GIL then keeps it until it blocks or a native call
releases it. A second thread counts iterations (each one briefly blocks, handing
the GIL back). While pure-Python work runs, the counter stays still; while a hash
runs, it advances. Only progress counts are compared, never durations.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from bastion import Key, hash_password, sign, verify_password
from bastion.password import PasswordHasher
from conftest import ASYMMETRIC


@pytest.fixture(autouse=True)
def no_forced_switches() -> Iterator[None]:
    old = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def progress_during(work: Callable[[], object]) -> int:
    """Iterations a second thread completes while ``work`` runs in this thread."""
    count = 0
    stop = threading.Event()
    started = threading.Event()

    def counter() -> None:
        nonlocal count
        started.set()
        while not stop.is_set():
            count += 1
            time.sleep(0.0001)  # blocks: hands the GIL to a waiting thread

    t = threading.Thread(target=counter, daemon=True)
    t.start()
    started.wait()
    try:
        before = count
        work()
        after = count
    finally:
        stop.set()
        t.join()
    return after - before


def python_busy_work() -> None:
    x = 0
    for i in range(2_000_000):
        x += i


HEAVY_ARGON2 = {"time_cost": 4, "memory_cost": 65536, "parallelism": 1}


def test_control_pure_python_holds_the_gil() -> None:
    assert progress_during(python_busy_work) <= 1


@pytest.mark.parametrize(
    "work",
    [
        lambda: hash_password("pw", **HEAVY_ARGON2),
        lambda: PasswordHasher(**HEAVY_ARGON2).hash("pw"),
        lambda: (
            verify_password(hash_password("pw", "bcrypt", rounds=4), "pw")
            and hash_password("pw", "bcrypt", rounds=12)
        ),
        lambda: hash_password("pw", "pbkdf2_sha256", format="django", iterations=2_000_000),
    ],
    ids=["argon2", "argon2-cffi-class", "bcrypt", "pbkdf2"],
)
def test_hashing_releases_the_gil(work: Callable[[], object]) -> None:
    assert progress_during(work) > 1


def test_verifying_releases_the_gil() -> None:
    encoded = hash_password("pw", **HEAVY_ARGON2)
    assert progress_during(lambda: verify_password(encoded, "pw")) > 1


def test_rsa_signing_releases_the_gil() -> None:
    key = Key.from_pem(ASYMMETRIC["RS512"].private_pem)
    assert progress_during(lambda: [sign({"i": i}, key, "PS512") for i in range(200)]) > 1
