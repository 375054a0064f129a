"""Reference deployment 1's numbers, through Django's test client (``python manage.py test``; the
pytest suite runs it on the memory store and on Redis: tests/python/django_suite/test_django_example.py).

Time-based rules run on a ``ManualClock``; nothing sleeps through a window."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from bastion import ManualClock
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client, TestCase, TransactionTestCase, override_settings

from . import identify

PW = "a passphrase of fourteen+"
NOW = 1_700_000_000


class Upstream:
    """The paid API in tests: counts calls, fails on demand, and can hold its callers."""

    calls = 0
    failing = False
    hold_until_waiting = 0  # return only once this many callers wait for the same result

    @classmethod
    def reset(cls) -> None:
        cls.calls, cls.failing, cls.hold_until_waiting = 0, False, 0


def fake_upstream(image: str) -> dict[str, Any]:
    from .upstream import UpstreamError

    Upstream.calls += 1
    if Upstream.hold_until_waiting:
        deadline = time.monotonic() + 10
        key = identify.hashlib.sha256(image.encode()).hexdigest()
        while identify.cache().waiting(key) < Upstream.hold_until_waiting and time.monotonic() < deadline:
            time.sleep(0.001)
    if Upstream.failing:
        raise UpstreamError("upstream timed out")
    return {"species": "Ficus lyrata", "image": image[:8]}


class Deployment:
    """Each test: a fresh clock and its own key prefix (the Redis server is shared)."""

    def setUp(self) -> None:  # type: ignore[misc]
        super().setUp()  # type: ignore[misc]
        self.clock = ManualClock(NOW)
        bastion = {**settings.BASTION, "CLOCK": self.clock, "KEY_PREFIX": f"plantid-{uuid.uuid4().hex[:8]}:"}
        override = override_settings(
            BASTION=bastion,
            IDENTIFY_UPSTREAM="plantid.tests.fake_upstream",
            EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        )
        override.enable()
        self.addCleanup(override.disable)  # type: ignore[attr-defined]
        Upstream.reset()
        self.client = Client()

    def post(self, path: str, body: dict[str, Any], ip: str = "198.51.100.1", **extra: Any) -> Any:
        # Behind the load balancer (a private address, trusted): the client is X-Forwarded-For.
        return self.client.post(
            path,
            body,
            content_type="application/json",
            secure=True,  # SECURE_SSL_REDIRECT outside DEBUG
            REMOTE_ADDR="10.0.0.2",
            HTTP_X_FORWARDED_FOR=ip,
            **extra,
        )

    def user(self, name: str = "ana", email: str = "ana@example.org") -> Any:
        return get_user_model().objects.create_user(name, email=email, password=PW)


class RateLimits(Deployment, TestCase):
    def test_login_5_per_15_minutes_per_ip(self) -> None:
        self.user()
        codes = [
            self.post("/api/auth/login/", {"username": "ana", "password": PW}).status_code for _ in range(6)
        ]
        self.assertEqual(codes, [200] * 5 + [429])
        denied = self.post("/api/auth/login/", {"username": "ana", "password": PW})
        self.assertEqual(denied["Content-Type"], "application/problem+json")
        self.assertEqual(denied["Retry-After"], "900")
        self.assertEqual(
            self.post("/api/auth/login/", {"username": "ana", "password": PW}, ip="198.51.100.9").status_code,
            200,
        )
        self.clock.advance(15 * 60)
        self.assertEqual(self.post("/api/auth/login/", {"username": "ana", "password": PW}).status_code, 200)

    def test_registration_3_per_hour(self) -> None:
        codes = [
            self.post(
                "/api/auth/register/", {"username": f"u{i}", "email": f"u{i}@x.org", "password": PW}
            ).status_code
            for i in range(4)
        ]
        self.assertEqual(codes, [201] * 3 + [429])
        short = self.post(
            "/api/auth/register/",
            {"username": "v", "email": "v@x.org", "password": "short"},
            ip="198.51.100.7",
        )
        self.assertEqual(short.status_code, 400)  # passwords: at least 14 characters

    def test_password_reset_3_per_hour(self) -> None:
        codes = [self.post("/api/auth/password-reset/", {"email": "a@x.org"}).status_code for _ in range(4)]
        self.assertEqual(codes, [202] * 3 + [429])
        self.clock.advance(3600)
        self.assertEqual(self.post("/api/auth/password-reset/", {"email": "a@x.org"}).status_code, 202)

    def test_token_refresh_10_per_hour(self) -> None:
        self.user()
        self.post("/api/auth/login/", {"username": "ana", "password": PW})
        csrf = self.client.cookies["csrftoken"].value
        codes = []
        for _ in range(11):
            self.clock.advance(1)
            codes.append(self.post("/api/auth/refresh/", {}, HTTP_X_CSRFTOKEN=csrf).status_code)
        self.assertEqual(codes, [200] * 10 + [429])


class Lockout(Deployment, TestCase):
    def test_10_failures_lock_for_an_hour_and_mail_the_user(self) -> None:
        self.user()
        # From 10 addresses (the per-IP login limit does not bind): the account locks all the same.
        codes = [
            self.post(
                "/api/auth/login/", {"username": "ana", "password": "wrong"}, ip=f"203.0.113.{i}"
            ).status_code
            for i in range(10)
        ]
        self.assertEqual(codes, [401] * 9 + [429])
        locked = self.post("/api/auth/login/", {"username": "ana", "password": PW}, ip="203.0.113.99")
        self.assertEqual((locked.status_code, locked["Retry-After"]), (429, "3600"))
        self.assertEqual(len(mail.outbox), 1)
        self.assertEqual(mail.outbox[0].to, ["ana@example.org"])
        self.clock.advance(3600)
        self.assertEqual(
            self.post("/api/auth/login/", {"username": "ana", "password": PW}, ip="203.0.113.98").status_code,
            200,
        )


class CookieJwt(Deployment, TestCase):
    def test_cookies_csrf_and_logout(self) -> None:
        self.user()
        login = self.post("/api/auth/login/", {"username": "ana", "password": PW})
        self.assertEqual(login.json(), {})
        self.assertTrue(login.cookies["access_token"]["httponly"])
        self.assertTrue(login.cookies["access_token"]["secure"])  # DEBUG is off
        client = Client(enforce_csrf_checks=True)
        client.cookies = self.client.cookies
        self.assertEqual(client.post("/api/auth/logout-all/", secure=True).status_code, 403)  # no CSRF token
        csrf = client.cookies["csrftoken"].value
        self.assertEqual(
            client.post(
                "/api/auth/logout-all/",
                secure=True,
                HTTP_X_CSRFTOKEN=csrf,
                HTTP_REFERER="https://testserver/",
            ).status_code,
            200,
        )


class Identify(Deployment, TestCase):
    def identify(self, image: str, ip: str = "198.51.100.1") -> Any:
        return self.post("/api/identify/", {"image": image}, ip=ip)

    def test_breaker_3_failures_60_seconds_2_successes(self) -> None:
        Upstream.failing = True
        codes = [self.identify(f"img-{i}", ip=f"198.51.100.{i}").status_code for i in range(3)]
        self.assertEqual(codes, [502] * 3)
        fast = self.identify("img-3", ip="198.51.100.3")
        self.assertEqual((fast.status_code, fast["Retry-After"]), (503, "60"))
        self.assertEqual(Upstream.calls, 3)  # open: the upstream is not called
        self.assertEqual(self.client.get("/api/health/", secure=True).json()["identify_breaker"], "open")
        Upstream.failing = False
        self.clock.advance(60)
        self.assertEqual(self.identify("img-4", ip="198.51.100.4").status_code, 200)
        self.assertEqual(identify.breaker().state, "half-open")
        self.assertEqual(self.identify("img-5", ip="198.51.100.5").status_code, 200)
        self.assertEqual(identify.breaker().state, "closed")

    def test_users_quota_and_stricter_anonymous_limit(self) -> None:
        codes = [self.identify(f"a{i}").status_code for i in range(4)]
        self.assertEqual(codes, [200] * 3 + [429])
        self.user()
        self.post("/api/auth/login/", {"username": "ana", "password": PW}, ip="198.51.100.50")
        user_codes = [self.identify(f"u{i}", ip="198.51.100.50").status_code for i in range(101)]
        self.assertEqual(user_codes, [200] * 100 + [429])  # 100/hour in production (10 in DEBUG)


class SingleFlight(Deployment, TransactionTestCase):
    def ten_identical_requests(self) -> list[tuple[int, Any]]:
        results: list[Any] = []

        def request(i: int) -> None:
            client = Client()
            r = client.post(
                "/api/identify/",
                {"image": "the same photo"},
                content_type="application/json",
                secure=True,
                REMOTE_ADDR="10.0.0.2",
                HTTP_X_FORWARDED_FOR=f"198.51.100.{i}",
            )
            results.append((r.status_code, r.json()))

        threads = [threading.Thread(target=request, args=(i,)) for i in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return results

    def test_10_concurrent_identical_requests_1_upstream_call(self) -> None:
        Upstream.hold_until_waiting = 9
        results = self.ten_identical_requests()
        self.assertEqual(Upstream.calls, 1)
        self.assertEqual([code for code, _ in results], [200] * 10)
        self.assertEqual(len({str(body) for _, body in results}), 1)

    def test_a_failing_upstream_call_answers_every_waiter(self) -> None:
        Upstream.hold_until_waiting = 9
        Upstream.failing = True
        results = self.ten_identical_requests()
        self.assertEqual(Upstream.calls, 1)
        self.assertEqual([code for code, _ in results], [502] * 10)
