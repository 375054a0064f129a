"""bastion.compat.redis_lock: python-redis-lock's API on the core's leases, checked side by side with
python-redis-lock itself on a real Redis; waiters in other processes woken by the release's broadcast;
fencing; the memory store for one process."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
import redis_harness
import redis_lock as peer
from bastion import BastionError, Store
from bastion.compat import redis_lock as ours


def _client(server: redis_harness.RedisServer) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=server.port)


def _script(mod: Any, client: Any, name: str) -> list[str]:
    """A session of calls, and what each answered or raised."""
    out: list[str] = []

    def step(label: str, f: Callable[[], Any]) -> None:
        try:
            out.append(f"{label}={f()!r}")
        except Exception as e:
            out.append(f"{label}!{type(e).__name__}")

    a = mod.Lock(client, name, expire=30, id="owner-a")
    b = mod.Lock(client, name, expire=30, id="owner-b")
    step("locked0", a.locked)
    step("a.acquire", a.acquire)
    step("a.acquire2", a.acquire)
    step("owner", a.get_owner_id)
    step("b.nonblocking", lambda: b.acquire(blocking=False))
    step("b.timeout_nonblocking", lambda: b.acquire(blocking=False, timeout=1))
    step("b.negative", lambda: b.acquire(timeout=-1))
    step("b.too_large", lambda: b.acquire(timeout=31))
    step("b.release", b.release)
    step("b.extend", b.extend)
    step("a.extend", lambda: a.extend(60))
    step("a.release", a.release)
    step("a.release2", a.release)
    step("locked1", a.locked)
    step("same_id", lambda: mod.Lock(client, name, id="owner-a").acquire(blocking=False))
    step("other_object_release", lambda: mod.Lock(client, name, id="owner-a").release())
    step("reset_target", lambda: b.acquire(blocking=False))
    step("reset", lambda: mod.Lock(client, name).reset())
    step("locked2", a.locked)
    step("no_expire_extend", lambda: mod.Lock(client, name + "2").extend())
    step("renewal_without_expire", lambda: mod.Lock(client, name, auto_renewal=True))
    step("negative_expire", lambda: mod.Lock(client, name, expire=-1))
    step("bad_id", lambda: mod.Lock(client, name, id=3))

    def ctx() -> str:
        with mod.Lock(client, name + "3", expire=5) as lk:
            return str(lk.locked())

    step("context", ctx)
    step("after_context", mod.Lock(client, name + "3").locked)
    return out


def test_the_same_session_answers_as_python_redis_lock(
    redis_server: redis_harness.RedisServer, redis_prefix: str
) -> None:
    client = _client(redis_server)
    theirs = _script(peer, client, redis_prefix + "peer")
    mine = _script(ours, client, redis_prefix + "ours")
    assert mine == theirs


def test_exceptions_keep_python_redis_lock_names_and_bases() -> None:
    for name in (
        "NotAcquired",
        "AlreadyAcquired",
        "AlreadyStarted",
        "TimeoutNotUsable",
        "InvalidTimeout",
        "TimeoutTooLarge",
        "NotExpirable",
    ):
        cls = getattr(ours, name)
        assert issubclass(cls, RuntimeError) and issubclass(cls, BastionError)
        assert cls.__name__ == getattr(peer, name).__name__


def test_memory_store_and_urls_work_for_one_process(redis_server: redis_harness.RedisServer) -> None:
    for target in (Store(), redis_server.url):
        lock = ours.Lock(target, "m", expire=10)
        assert lock.acquire(blocking=False)
        assert lock.fence is not None and lock.fence >= 1
        assert not ours.Lock(target, "m").acquire(blocking=False)
        lock.release()
        assert not lock.locked()


def test_fencing_tokens_grow_and_a_stale_holder_cannot_release(
    redis_server: redis_harness.RedisServer,
) -> None:
    client = _client(redis_server)
    first = ours.Lock(client, "fenced", expire=1)
    assert first.acquire()
    f1 = first.fence
    assert f1 is not None
    # Its lease runs out while it "works"; someone else takes the lock.
    deadline = time.monotonic() + 5
    second = ours.Lock(client, "fenced", expire=30)
    while not second.acquire(blocking=False):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert second.fence is not None and second.fence > f1
    with pytest.raises(ours.NotAcquired):
        first.release()
    assert second.get_owner_id() == second.id
    second.release()


def test_auto_renewal_keeps_the_lock_past_its_expiry(redis_server: redis_harness.RedisServer) -> None:
    client = _client(redis_server)
    lock = ours.Lock(client, "renewed", expire=1, auto_renewal=True)
    assert lock.acquire()
    time.sleep(1.6)  # real time: the renewal (every third of a second) is what is observed
    assert lock.get_owner_id() == lock.id and not lock.lost
    lock.release()
    assert not lock.locked()


def _waiter(url: str, name: str, ready: Any, out: Any) -> None:
    lock = ours.Lock(url, name, expire=60)
    ready.set()
    started = time.monotonic()
    got = lock.acquire(timeout=20)
    out.put((got, time.monotonic() - started))
    if got:
        lock.release()


def test_waiters_in_other_processes_wake_on_the_release(redis_server: redis_harness.RedisServer) -> None:
    holder = ours.Lock(redis_server.url, "broadcast", expire=60)
    assert holder.acquire()
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    events = [ctx.Event() for _ in range(4)]
    waiters = [ctx.Process(target=_waiter, args=(redis_server.url, "broadcast", e, out)) for e in events]
    for w in waiters:
        w.start()
    for e in events:
        assert e.wait(60)
    time.sleep(1.0)  # let them reach their wait
    holder.release()
    results = [out.get(timeout=60) for _ in waiters]
    for w in waiters:
        w.join(timeout=30)
    # The holder's lease had a minute left: only the release's broadcast can have let all four
    # through (one after the other, each released in turn) within their 20 s timeout.
    assert all(got for got, _ in results), results
