"""DRF request overhead: JWT authentication plus a user throttle, bastion.django against simplejwt with DRF's
throttle, in memory and on Redis.

Run with `make bench` (release build). Starts its own redis-server on a free loopback port with the test
harness and stops it at the end. Prints a table and writes bench/results/django.json.

Each case serves the same GET through a DRF `APIView` (`IsAuthenticated`, one throttle), called directly
with a `RequestFactory` request carrying a bearer token, so the figure is Django's and DRF's request cycle
plus the authentication and the throttle, in one thread:

- baseline: the same view with no authentication and no throttle (what the request cycle costs alone);
- simplejwt's `JWTAuthentication` + DRF's `UserRateThrottle` on the locmem cache, and on Django's
  `RedisCache`;
- bastion's `JWTAuthentication` + `UserRateThrottle` on the memory store, and on Redis (one round trip
  for the token's revocation check, one for the throttle).

The workload: 50 users, each with its own access token (HS256, the same key on both sides), requests
spread over them in a fixed random order; the rate (1000/hour) is never reached, so every request is
admitted. Both sides look the user up in the database (SQLite in memory) on every request. A client
presents the same bearer token until it expires, so bastion's verified-token cache (on by default)
skips the signature check on repeat; simplejwt (PyJWT) checks it every time. Repeats are interleaved
across cases; the best run of each case counts.
"""

from __future__ import annotations

import gc
import importlib.metadata
import json
import os
import platform
import random
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import django
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "python"))
import redis_harness  # noqa: E402

RESULTS = Path(__file__).parent / "results"
USERS = 50
OPS = 2_000
REPEATS = 5
SIGNING_KEY = "jS8-fK2_qL9xVb4Rt7Np0Wc3Zm6Hd1Ya5Ge8Tu2Io4Pl7Kj0Mn3Bv6Cx9Za1Sd5Fg8Hq"


def version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def configure(redis_url: str) -> None:
    settings.configure(
        SECRET_KEY="Wq3r8-Lm0v_PzXc7Tn2Kb5Hy9Jd4Fs6Ga1Re0Uo3Ii8Ee7Aa2Qw5Zx9Cv4Bn1Mm6Ll",
        DEBUG=False,
        USE_TZ=True,
        ALLOWED_HOSTS=["testserver"],
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "rest_framework",
            "bastion.django",
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        CACHES={
            "default": {
                "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                "OPTIONS": {"MAX_ENTRIES": 1_000_000},
            },
            "redis": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url},
        },
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],  # users are made, not logged in
        SIMPLE_JWT={"SIGNING_KEY": SIGNING_KEY, "ACCESS_TOKEN_LIFETIME": timedelta(hours=1)},
        REST_FRAMEWORK={"DEFAULT_THROTTLE_RATES": {"user": "1000/hour"}, "UNAUTHENTICATED_USER": None},
        BASTION={},
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", run_syncdb=True, verbosity=0)


def views() -> dict[str, Callable[[Any], Any]]:
    from bastion.django.authentication import JWTAuthentication
    from bastion.django.throttling import UserRateThrottle
    from django.core.cache import caches
    from rest_framework import throttling as drf
    from rest_framework.permissions import IsAuthenticated
    from rest_framework.response import Response
    from rest_framework.views import APIView
    from rest_framework_simplejwt.authentication import JWTAuthentication as SimpleJWTAuthentication

    class RedisUserRateThrottle(drf.UserRateThrottle):
        cache = caches["redis"]

    def view(auth: Any, throttle: Any) -> Callable[[Any], Any]:
        class View(APIView):
            authentication_classes = (auth,) if auth else ()
            permission_classes = (IsAuthenticated,) if auth else ()
            throttle_classes = (throttle,) if throttle else ()

            def get(self, request: Any) -> Response:
                return Response({"ok": True})

        return View.as_view()

    return {
        "baseline": view(None, None),
        "simplejwt": view(SimpleJWTAuthentication, drf.UserRateThrottle),
        "simplejwt_redis": view(SimpleJWTAuthentication, RedisUserRateThrottle),
        "bastion": view(JWTAuthentication, UserRateThrottle),
        "bastion_redis": view(JWTAuthentication, UserRateThrottle),
    }


def main() -> None:
    server = redis_harness.start_server()
    try:
        configure(server.url)
        run(server.url)
    finally:
        server.close()


def run(redis_url: str) -> None:
    import redis
    from bastion.django import tokens
    from django.contrib.auth.models import User
    from django.core.cache import caches
    from django.test import RequestFactory, override_settings
    from rest_framework_simplejwt.tokens import AccessToken

    users = [User.objects.create(username=f"user{i}") for i in range(USERS)]
    rng = random.Random(7)
    order = [rng.randrange(USERS) for _ in range(OPS)]
    factory = RequestFactory()
    handlers = views()
    stores = {"bastion": {}, "bastion_redis": {"STORE": redis_url, "STORE_OPTIONS": {"timeout": 1.0}}}
    flush = redis.Redis.from_url(redis_url).flushall

    def fresh_state(case: str) -> list[str]:
        """Empties the case's throttle state and returns one bearer token per user."""
        caches["default"].clear()
        flush()
        if case.startswith("bastion"):
            return [tokens.issue_for_user(u).access for u in users]  # into the (new) store
        return [str(AccessToken.for_user(u)) for u in users]

    best = dict.fromkeys(handlers, float("inf"))
    for _ in range(REPEATS):
        for case, handler in handlers.items():
            # Entering and leaving the override drops bastion's components: each run starts anew.
            with override_settings(BASTION=stores.get(case, {})):
                issued = fresh_state(case)
                batch = [factory.get("/", HTTP_AUTHORIZATION=f"Bearer {issued[i]}") for i in order]
                warm = [factory.get("/", HTTP_AUTHORIZATION=f"Bearer {t}") for t in issued[:20]]
                for r in warm:  # components built, connections open, users' tokens seen once
                    assert handler(r).status_code == 200
                gc.collect()
                gc.disable()
                start = time.perf_counter()
                for r in batch:
                    response = handler(r)
                elapsed = time.perf_counter() - start
                gc.enable()
                assert response.status_code == 200, (case, response.status_code)
                best[case] = min(best[case], elapsed / len(batch) * 1e6)
    base = best["baseline"]
    pairs = [
        ("memory", "simplejwt + DRF UserRateThrottle (locmem cache)", "simplejwt", "bastion"),
        ("redis", "simplejwt + DRF UserRateThrottle (RedisCache)", "simplejwt_redis", "bastion_redis"),
    ]
    rows = []
    for where, peer_name, peer, ours in pairs:
        rows.append(
            {
                "store": where,
                "peer": peer_name,
                "peer_us": best[peer],
                "bastion_us": best[ours],
                "peer_overhead_us": best[peer] - base,
                "bastion_overhead_us": best[ours] - base,
                "ratio": best[peer] / best[ours],
                "overhead_ratio": (best[peer] - base) / max(best[ours] - base, 1e-9),
            }
        )
    out = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "django": django.__version__,
        "djangorestframework": version("djangorestframework"),
        "simplejwt": version("djangorestframework-simplejwt"),
        "users": USERS,
        "ops": OPS,
        "baseline_us": base,
        "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "django.json").write_text(json.dumps(out, indent=2))
    print(f"baseline (no authentication, no throttle): {base:.1f} µs/request")
    for r in rows:
        print(
            f"{r['store']:6} {r['peer']}: {r['peer_us']:.1f} µs (+{r['peer_overhead_us']:.1f}); "
            f"bastion {r['bastion_us']:.1f} µs (+{r['bastion_overhead_us']:.1f}); "
            f"{r['ratio']:.2f}x per request, {r['overhead_ratio']:.2f}x on the overhead"
        )


if __name__ == "__main__":
    main()
