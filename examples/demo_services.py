"""The services demo: starts the example backends secured by bastion, drives them over HTTP and
prints what each capability did.

Run by ``make demo`` after the library demos. Each service runs as its own process on a free
loopback port, on the embedded memory store; a small upstream (slow, and failing on demand) stands
in for the external API the ``/identify`` endpoints call. With ``BASTION_REDIS_URL`` set, the
services share that Redis, and the demo also shows a Python and a Node service sharing one rate
limit and one lockout.

The FastAPI and Express services follow one contract: ``POST /auth/register``, ``/auth/login``,
``/auth/refresh``, ``/auth/logout-everywhere``; ``GET /api/me``, ``/api/items`` (reads: 100/min per
client); ``GET /identify/{n}`` (breaker and single-flight cache); ``GET /health``. The Django
example keeps simplejwt's URLs, its cookie transport with CSRF and reference deployment 1's numbers
(login 5 per 15 minutes, lockout after 10 failures for an hour, 10 identical identifications making
one upstream call); it runs on Django's development server and a throwaway SQLite database.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery staple"
# Clients and names of this run: on Redis, state outlives a run (a lock lasts 15 minutes).
RUN = secrets.randbelow(1 << 16)


class Upstream:
    """The external API stand-in: ``GET /identify/{n}`` answers after ``delay`` seconds, or 500
    while ``failing``; counts its calls."""

    def __init__(self, delay: float = 0.3) -> None:
        self.delay = delay
        self.failing = False
        self.calls = 0
        self.lock = threading.Lock()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with upstream.lock:
                    upstream.calls += 1
                time.sleep(upstream.delay)
                if upstream.failing:
                    self.send_response(500)
                    self.end_headers()
                    return
                body = json.dumps({"species": "Quercus robur", "ref": self.path.rsplit("/", 1)[-1]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(min(length, 1 << 20))
                self.do_GET()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Service:
    name: str
    where: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    health: str = "/health"
    # Commands run once before the service starts (a database to set up).
    prepare: list[list[str]] = field(default_factory=list)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    log: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, upstream: Upstream, redis_url: str | None) -> None:
        self.port = free_port()
        env = {**os.environ, **self.env, "PORT": str(self.port), "UPSTREAM_URL": upstream.url}
        env.pop("BASTION_REDIS_URL", None)
        if redis_url:
            env["BASTION_REDIS_URL"] = env["REDIS_URL"] = redis_url
        env["PLANT_API_URL"] = f"{upstream.url}/identify/plant"
        # The commands are this file's own (SERVICES), not input. Their output goes to a file: a
        # server logging every request would fill a pipe nobody reads, and stall.
        self.log = tempfile.TemporaryFile()
        for step in self.prepare:
            done = subprocess.run(step, cwd=ROOT, env=env, stdout=self.log, stderr=self.log, check=False)  # noqa: S603
            if done.returncode != 0:
                raise SystemExit(f"{self.name}: {' '.join(step)} failed:\n{self.output()}")
        command = [c.replace("{port}", str(self.port)) for c in self.command]
        self.proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log, stderr=self.log)  # noqa: S603
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} did not start:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}{self.health}", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise SystemExit(f"{self.name} did not answer {self.health} within 60 s")

    def output(self) -> str:
        self.log.seek(0)
        return str(self.log.read().decode(errors="replace")[-4000:])

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


UVICORN = [sys.executable, "-m", "uvicorn"]
SERVICES = [
    Service(
        "FastAPI",
        "examples/fastapi_app",
        [
            *UVICORN,
            "app:app",
            "--app-dir",
            "examples/fastapi_app",
            "--port",
            "{port}",
            "--log-level",
            "warning",
        ],
    ),
    Service("Express", "examples/express_app", ["node", "examples/express_app/server.js"]),
]

# The Django example (reference deployment 1): its own URLs and numbers, on a throwaway SQLite file.
DJANGO_DB = str(Path(tempfile.gettempdir()) / f"bastion-demo-{os.getpid()}.sqlite3")
MANAGE = [sys.executable, "examples/django_app/manage.py"]
# Its users, named for this run (on Redis, a lockout or a quota outlives a run).
DJANGO_USERS = tuple(f"{name}-{RUN}" for name in ("ada", "alan", "grace", "hopper"))
DJ_ADA, DJ_ALAN, DJ_GRACE, DJ_HOPPER = DJANGO_USERS
DJANGO = Service(
    "Django",
    "examples/django_app",
    [*MANAGE, "runserver", "127.0.0.1:{port}", "--noreload"],
    env={
        "DJANGO_SETTINGS_MODULE": "plantid.settings",
        "DJANGO_DEBUG": "1",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "JWT_SIGNING_KEY": secrets.token_urlsafe(50),
        "DJANGO_DB": DJANGO_DB,
        "TRUSTED_PROXIES": "loopback",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    },
    health="/api/health/",
    prepare=[
        [*MANAGE, "migrate", "--verbosity", "0"],
        [
            *MANAGE,
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model as m\n"
            f"for n in {DJANGO_USERS!r}: m().objects.create_user(n, password={PASSWORD!r})",
        ],
    ],
)


def line(label: str, text: str) -> None:
    print(f"  {label:24s} {text}", flush=True)


def client_ip(n: int) -> dict[str, str]:
    """Each step is another client behind the trusted proxy (the services trust loopback)."""
    return {"X-Forwarded-For": f"10.{RUN >> 8}.{RUN & 255}.{n}"}


def clients_of(index: int) -> int:
    """The first client number of the ``index``-th service (on Redis, the services share counts)."""
    return 32 * (index + 1)


def problem_code(r: httpx.Response) -> str:
    try:
        return str(r.json().get("code", ""))
    except ValueError:
        return ""


async def post(c: httpx.AsyncClient, path: str, body: dict[str, str], client: int) -> httpx.Response:
    return await c.post(path, json=body, headers=client_ip(client))


async def scenario(s: Service, upstream: Upstream, user: str, base: int) -> None:
    def ip(n: int) -> dict[str, str]:
        return client_ip(base + n)

    async with httpx.AsyncClient(base_url=s.url, timeout=30) as c:
        # Login returning tokens.
        r = await c.post("/auth/login", json={"username": "ada", "password": PASSWORD}, headers=ip(1))
        pair = r.json()
        line(
            "login",
            f"{r.status_code}  access {pair['access'][:16]}… ({len(pair['access'])} chars), "
            f"refresh {pair['refresh'][:16]}…",
        )
        me = await c.get("/api/me", headers={"Authorization": f"Bearer {pair['access']}", **ip(1)})
        line("GET /api/me", f"{me.status_code}  {me.text}")
        no_token = await c.get("/api/me", headers=ip(1))
        line("GET /api/me, no token", f"{no_token.status_code}  {problem_code(no_token)}")

        # A burst answered with 429 and Retry-After.
        answers = await asyncio.gather(*(c.get("/api/items", headers=ip(2)) for _ in range(110)))
        counts = Counter(a.status_code for a in answers)
        denied = next(a for a in answers if a.status_code == 429)
        line(
            "burst of 110 reads",
            f"{counts[200]} × 200, {counts[429]} × 429 (Retry-After: {denied.headers['retry-after']}, "
            f"X-RateLimit-Remaining: {denied.headers['x-ratelimit-remaining']}, "
            f"{denied.headers['content-type']})",
        )

        # Wrong passwords leading to a lockout.
        await c.post("/auth/register", json={"username": user, "password": PASSWORD}, headers=ip(3))
        seen = []
        for _ in range(5):
            r = await post(c, "/auth/login", {"username": user, "password": "wrong"}, base + 3)
            seen.append(str(r.status_code))
        locked = await post(c, "/auth/login", {"username": user, "password": PASSWORD}, base + 4)
        line(
            "5 wrong passwords", f"{' '.join(seen)}  (the 5th locks: Retry-After {r.headers['retry-after']})"
        )
        line("then the right one", f"{locked.status_code}  {problem_code(locked)}, from another address too")

        # Rotation and refresh-token reuse detection.
        first = await post(c, "/auth/refresh", {"refresh": pair["refresh"]}, base + 5)
        reuse = await post(c, "/auth/refresh", {"refresh": pair["refresh"]}, base + 5)
        newest = await post(c, "/auth/refresh", {"refresh": first.json()["refresh"]}, base + 5)
        line(
            "rotation",
            f"refresh {first.status_code}; the old refresh again {reuse.status_code} {problem_code(reuse)}; "
            f"the newest {newest.status_code} {problem_code(newest)} (family revoked)",
        )

        # 50 concurrent identical requests, 1 upstream call.
        before = upstream.calls
        key = f"oak-{s.name.lower()}-{RUN}"
        answers = await asyncio.gather(*(c.get(f"/identify/{key}") for _ in range(50)))
        line(
            "50 identical requests",
            f"{sum(a.status_code == 200 for a in answers)} × 200, {upstream.calls - before} upstream call",
        )


async def django_login(s: Service, username: str, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    """A browser-like client of the Django example logged in as ``username``: the tokens travel in
    HttpOnly cookies, and unsafe requests carry the CSRF token."""
    c = httpx.AsyncClient(base_url=s.url, timeout=30)
    r = await c.post("/api/auth/login/", json={"username": username, "password": PASSWORD}, headers=headers)
    r.raise_for_status()
    c.headers["X-CSRFToken"] = c.cookies["csrftoken"]
    return c


async def django_scenario(s: Service, upstream: Upstream, base: int) -> None:
    """The Django example: simplejwt's URLs and bodies, cookie transport with CSRF, reference
    deployment 1's numbers."""

    def ip(n: int) -> dict[str, str]:
        return client_ip(base + n)

    login = "/api/auth/login/"
    c = await django_login(s, DJ_ADA, ip(1))
    try:
        cookies = {k: v for k, v in c.cookies.items() if k.endswith("_token")}
        line("login", f"200  tokens in HttpOnly cookies: {', '.join(sorted(cookies))}; CSRF enforced")
        no_csrf = await httpx.AsyncClient(base_url=s.url, cookies=cookies).post(
            "/api/identify/", json={"image": "x"}
        )
        line("POST without CSRF", f"{no_csrf.status_code}  {no_csrf.json().get('detail')}")
        # Login: 5 per 15 minutes per address.
        codes = []
        for _ in range(6):
            r = await c.post(login, json={"username": "nobody", "password": "wrong"}, headers=ip(2))
            codes.append(str(r.status_code))
        line(
            "6 logins, one address",
            f"{' '.join(codes)}  (5 per 15 minutes: Retry-After {r.headers['retry-after']})",
        )
        # Lockout: 10 failures for one username lock it for an hour, whatever the address.
        codes = []
        for i in range(10):
            r = await c.post(login, json={"username": DJ_ALAN, "password": "wrong"}, headers=ip(10 + i // 5))
            codes.append(str(r.status_code))
        locked = await c.post(login, json={"username": DJ_ALAN, "password": PASSWORD}, headers=ip(13))
        line("10 wrong passwords", " ".join(codes))
        line("then the right one", f"{locked.status_code}  (Retry-After {locked.headers.get('retry-after')})")
        # Rotation with reuse detection (simplejwt's bodies): the cookie is rotated, the old token replayed.
        old = c.cookies["refresh_token"]
        refresh = "/api/auth/refresh/"
        first = await c.post(refresh, json={}, headers=ip(3))
        reuse = await c.post(refresh, json={"refresh": old}, headers=ip(3))
        newest = await c.post(refresh, json={}, headers=ip(3))
        line(
            "rotation",
            f"refresh {first.status_code}; the old refresh again {reuse.status_code} "
            f'"{reuse.json().get("detail")}"; the newest {newest.status_code} (family revoked)',
        )
    finally:
        await c.aclose()
    # 10 concurrent identical identifications (reference deployment 1's figure): 1 upstream call.
    c = await django_login(s, DJ_GRACE, ip(4))
    try:
        before = upstream.calls
        answers = await asyncio.gather(
            *(c.post("/api/identify/", json={"image": f"oak-{RUN}"}) for _ in range(10))
        )
        line(
            "10 identical requests",
            f"{sum(a.status_code == 200 for a in answers)} × 200, {upstream.calls - before} upstream call",
        )
    finally:
        await c.aclose()


async def failing_upstream(s: Service, upstream: Upstream, *, opened_elsewhere: bool = False) -> None:
    """The upstream fails: three failures open the breaker, then calls fail fast without it.
    ``opened_elsewhere``: another service sharing this breaker through Redis opened it; its
    broadcast reaches this service within milliseconds (the wait is bounded at 5 s)."""
    django = s is DJANGO
    c = await django_login(s, DJ_HOPPER) if django else httpx.AsyncClient(base_url=s.url, timeout=30)

    async def identify(n: str) -> httpx.Response:
        return await (c.post("/api/identify/", json={"image": n}) if django else c.get(f"/identify/{n}"))

    async def breaker_state() -> str | None:
        health = (await c.get(s.health)).json()
        return health.get("identify_breaker" if django else "breaker")  # type: ignore[no-any-return]

    upstream.failing = True
    try:
        codes = []
        state = await breaker_state()
        deadline = time.monotonic() + 5
        while opened_elsewhere and state != "open" and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
            state = await breaker_state()
        if state != "open":
            for i in range(3):
                r = await identify(f"fail-{s.name.lower()}-{RUN}-{i}")
                codes.append(str(r.status_code))
        before = upstream.calls
        started = time.perf_counter()
        r = await identify(f"fail-{s.name.lower()}-{RUN}-9")
        took = (time.perf_counter() - started) * 1000
    finally:
        upstream.failing = False
        await c.aclose()
    # On Redis the breaker is shared: another service may have opened it already.
    how = (
        f"{' '.join(codes)} (each after {upstream.delay * 1000:.0f} ms), then"
        if codes
        else "already open (shared through Redis):"
    )
    line(
        s.name,
        f"{how} {r.status_code} {problem_code(r) or r.json().get('title')} in {took:.1f} ms "
        f"(Retry-After: {r.headers.get('retry-after')}), {upstream.calls - before} upstream calls",
    )


async def shared(services: list[Service], user: str) -> None:
    """On one Redis, a Python and a Node service share one rate limit and one lockout: the same
    limiter names and keys, the same lockout, whichever service a request reaches."""
    clients = [httpx.AsyncClient(base_url=s.url, timeout=30) for s in services]
    names = " and ".join(s.name for s in services)
    try:
        print(f"\n== {names} sharing one Redis", flush=True)
        # Reads alternate between the services: one budget of 100 per minute for this client.
        answers = [
            await clients[i % len(clients)].get("/api/items", headers=client_ip(20)) for i in range(110)
        ]
        by_service = [Counter(a.status_code for a in answers[i :: len(clients)]) for i in range(len(clients))]
        parts = ", ".join(
            f"{s.name} {c[200]} × 200 + {c[429]} × 429" for s, c in zip(services, by_service, strict=True)
        )
        line("110 reads, alternating", f"{parts}: 100 admitted in all")
        # Wrong passwords spread over both services add up to one lockout.
        for c in clients:
            await post(c, "/auth/register", {"username": user, "password": PASSWORD}, 21)
        seen = []
        for i in range(5):
            r = await post(
                clients[i % len(clients)], "/auth/login", {"username": user, "password": "wrong"}, 21
            )
            seen.append(f"{services[i % len(clients)].name} {r.status_code}")
        line("5 wrong passwords", ", ".join(seen))
        after = [await post(c, "/auth/login", {"username": user, "password": PASSWORD}, 22) for c in clients]
        line(
            "then the right one",
            ", ".join(
                f"{s.name} {r.status_code} {problem_code(r)}" for s, r in zip(services, after, strict=True)
            ),
        )
    finally:
        for c in clients:
            await c.aclose()


def main() -> None:
    redis_url = os.environ.get("BASTION_REDIS_URL") or None
    upstream = Upstream()
    started: list[Service] = []
    try:
        for s in [*SERVICES, DJANGO]:
            s.start(upstream, redis_url)
            started.append(s)
        store = f"Redis at {redis_url}" if redis_url else "the embedded memory store"
        for i, s in enumerate(started):
            print(f"\n== {s.name} ({s.where}, {store}) on {s.url}", flush=True)
            if s is DJANGO:
                asyncio.run(django_scenario(s, upstream, clients_of(i)))
            else:
                asyncio.run(scenario(s, upstream, f"grace-{s.name.lower()}-{RUN}", clients_of(i)))
        print("\n== A failing upstream (3 failures in a row open the breaker for 60 s)", flush=True)
        for i, s in enumerate(started):
            # The Python and Node services share one breaker on Redis (Django keeps its own).
            shares = redis_url is not None and s is not DJANGO and i > 0
            asyncio.run(failing_upstream(s, upstream, opened_elsewhere=shares))
        if redis_url:
            asyncio.run(shared(SERVICES, f"mallory-{RUN}"))
    finally:
        for s in started:
            s.stop()
        upstream.close()
        Path(DJANGO_DB).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
