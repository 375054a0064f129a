"""ApiKeys, the store-backed API key registry, from Python: every case on memory, a real Redis and a
real Redis Cluster, with time from a ManualClock."""

from __future__ import annotations

import asyncio
import time
import zlib
from typing import Any

import pytest
import redis_harness
from bastion import (
    ApiKeyExpiredError,
    ApiKeyHasher,
    ApiKeyRecord,
    ApiKeyRevokedError,
    ApiKeys,
    CreatedApiKey,
    InvalidApiKeyError,
    InvalidArgumentError,
    InvalidHashError,
    ManualClock,
    PermissionDeniedError,
    Store,
    StoreUnavailableError,
)
from conftest import NOW, StoreFactory

PEPPER_V1 = "Jq3vX8nR2mK7pW4tY9bF6hL1sD5gA0cE"
PEPPER_V2 = "zT6rN1wQ8kM3vB5xP9cH2jL7fS4dG0aY"
DAY = 86_400


def registry(store: Store, hasher: ApiKeyHasher | None = None, **kw: Any) -> ApiKeys:
    return ApiKeys(hasher or ApiKeyHasher(PEPPER_V1), store=store, **kw)


B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def b62(n: int, width: int) -> str:
    out = ""
    for _ in range(width):
        n, d = divmod(n, 62)
        out = B62[d] + out
    return out


def with_wrong_secret(key: str) -> str:
    """The same prefix and id, another secret, a valid checksum."""
    body = key[:-6]
    body = body[:-1] + ("b" if body[-1] == "a" else "a")
    return body + b62(zlib.crc32(body.encode()), 6)


def test_create_then_verify(make_store: StoreFactory) -> None:
    clock = ManualClock(NOW)
    keys = registry(make_store(clock))
    made = keys.create("user-42", "deploy bot", ttl=90 * DAY)
    assert isinstance(made, CreatedApiKey)
    assert made.key.startswith("bst_")
    assert made.key not in repr(made)
    record = made.record
    assert isinstance(record, ApiKeyRecord)
    assert (record.owner, record.name) == ("user-42", "deploy bot")
    assert record.id == made.id
    assert record.created_at == NOW
    assert record.expires_at == NOW + 90 * DAY
    assert record.rate_limit == (1000, 3600)
    assert record.revoked_at is None and not record.revoked
    assert record.pepper_version == 1
    assert made.key not in repr(record)

    # Another registry on the same state (another process) verifies it.
    other = registry(make_store(clock))
    assert other.verify(made.key) == record
    assert other.verify(made.key.encode()).owner == "user-42"

    limited = keys.create(42, rate_limit=(5, 60), expires_at=NOW + 100)
    got = keys.verify(limited.key)
    assert got.owner == "42"
    assert got.rate_limit == (5, 60)
    assert got.expires_at == NOW + 100
    forever = keys.create("user-42", "ci")
    assert keys.verify(forever.key).expires_at is None
    assert registry(make_store(clock), default_rate_limit=None).create("u").record.rate_limit is None


def test_wrong_secret_unknown_id_and_garbage_are_invalid(make_store: StoreFactory) -> None:
    clock = ManualClock(NOW)
    keys = registry(make_store(clock))
    made = keys.create("ann", "k")
    with pytest.raises(InvalidApiKeyError) as wrong:
        keys.verify(with_wrong_secret(made.key))
    stranger = ApiKeyHasher(PEPPER_V1).generate().key
    with pytest.raises(InvalidApiKeyError) as unknown:
        keys.verify(stranger)
    assert str(unknown.value) == str(wrong.value)
    for bad in [
        "garbage",
        "",
        made.key.replace("_", "-"),
        ApiKeyHasher(PEPPER_V1).generate("acme").key,
        "x" * 10_000,
    ]:
        with pytest.raises(InvalidApiKeyError):
            keys.verify(bad)
    keys.verify(made.key)


def test_garbage_never_touches_the_store() -> None:
    keys = registry(Store("redis://127.0.0.1:1"))
    well_formed = ApiKeyHasher(PEPPER_V1).generate().key
    with pytest.raises(StoreUnavailableError):
        keys.verify(well_formed)
    for bad in ["garbage", b"\xff" * 80, well_formed[:-1] + ("A" if well_formed[-1] != "A" else "B")]:
        with pytest.raises(InvalidApiKeyError):
            keys.verify(bad)


def test_expiry_follows_the_clock_then_the_record_goes(make_store: StoreFactory) -> None:
    clock = ManualClock(NOW)
    keys = registry(make_store(clock), retention=7 * DAY)
    made = keys.create("bea", "short", ttl=3600)
    clock.advance(3599)
    keys.verify(made.key)
    clock.advance(1)
    with pytest.raises(ApiKeyExpiredError) as e:
        keys.verify(made.key)
    assert e.value.code == "API_KEY_EXPIRED"
    assert [r.id for r in keys.list("bea")] == [made.id]
    clock.advance(7 * DAY)
    with pytest.raises(InvalidApiKeyError):
        keys.verify(made.key)
    assert keys.list("bea") == []
    for bad in [{"ttl": 0}, {"expires_at": NOW}, {"ttl": 10, "expires_at": NOW + 100}]:
        with pytest.raises(InvalidArgumentError):
            keys.create("bea", **bad)


def test_revoke_needs_the_owner_or_an_admin(make_store: StoreFactory) -> None:
    clock = ManualClock(NOW)
    keys = registry(make_store(clock))
    a = keys.create("carl", "a")
    b = keys.create("carl", "b", ttl=3600)
    with pytest.raises(PermissionDeniedError):
        keys.revoke(a.id, by="mallory")
    with pytest.raises(PermissionDeniedError):
        keys.revoke(a.id)
    keys.verify(a.key)
    clock.advance(10)
    assert keys.revoke(a.id, by="carl") is True
    with pytest.raises(ApiKeyRevokedError):
        keys.verify(a.key)
    assert keys.revoke(a.id, by="carl") is True
    assert keys.revoke(b.id, by="root", admin=True) is True
    with pytest.raises(ApiKeyRevokedError):
        keys.verify(b.key)
    assert keys.revoke(ApiKeyHasher(PEPPER_V1).generate().id, admin=True) is False
    with pytest.raises(InvalidApiKeyError):
        keys.revoke("not-an-id", admin=True)
    listed = keys.list("carl")
    assert sorted(r.name for r in listed) == ["a", "b"]
    assert all(r.revoked_at == NOW + 10 for r in listed)


def test_revoke_all_and_list(make_store: StoreFactory) -> None:
    clock = ManualClock(NOW)
    keys = registry(make_store(clock), max_keys_per_owner=3)
    mine = []
    for name in ["first", "second", "third"]:
        mine.append(keys.create(7, name))
        clock.advance(1)
    theirs = keys.create("ed")
    assert [r.name for r in keys.list(7)] == ["first", "second", "third"]
    assert keys.list("nobody") == []
    with pytest.raises(InvalidArgumentError):
        keys.create(7, "fourth")
    assert keys.revoke_all(7) == 3
    for m in mine:
        with pytest.raises(ApiKeyRevokedError):
            keys.verify(m.key)
    keys.verify(theirs.key)
    assert keys.revoke_all(7) == 0
    assert all(r.revoked for r in keys.list("7"))


def test_pepper_rotation(make_store: StoreFactory) -> None:
    clock = ManualClock(NOW)
    old = registry(make_store(clock))
    made = old.create("ivy")
    rotated = registry(make_store(clock), ApiKeyHasher(PEPPER_V2, version=2, previous={1: PEPPER_V1}))
    assert rotated.verify(made.key).pepper_version == 1
    # Re-stored under pepper 2: a registry without pepper 1 accepts the key.
    new = registry(make_store(clock), ApiKeyHasher(PEPPER_V2, version=2))
    assert new.verify(made.key).pepper_version == 2
    assert rotated.create("ivy").record.pepper_version == 2
    lazy = registry(
        make_store(clock), ApiKeyHasher(PEPPER_V2, version=2, previous={1: PEPPER_V1}), rehash_on_verify=False
    )
    third = old.create("ivy")
    lazy.verify(third.key)
    with pytest.raises(InvalidHashError):
        new.verify(third.key)


def test_async_twins(make_store: StoreFactory) -> None:
    clock = ManualClock(NOW)
    keys = registry(make_store(clock))

    async def main() -> None:
        made = await keys.acreate("jo", "async", ttl=60)
        assert (await keys.averify(made.key)).owner == "jo"
        assert [r.id for r in await keys.alist("jo")] == [made.id]
        other = await keys.acreate("jo", rate_limit=(1, 1))
        with pytest.raises(PermissionDeniedError):
            await keys.arevoke(other.id, by="kim")
        assert await keys.arevoke(other.id, by="jo") is True
        with pytest.raises(ApiKeyRevokedError):
            await keys.averify(other.key)
        assert await keys.arevoke_all("jo") == 1
        with pytest.raises(ApiKeyRevokedError):
            await keys.averify(made.key)
        results = await asyncio.gather(*(keys.averify(made.key) for _ in range(20)), return_exceptions=True)
        assert all(isinstance(r, ApiKeyRevokedError) for r in results)

    asyncio.run(main())


def test_redis_down_fails_closed_within_the_timeout(fresh_redis_server: redis_harness.RedisServer) -> None:
    clock = ManualClock(NOW)
    store = Store(fresh_redis_server.url, clock=clock)  # default timeout: 50 ms
    closed = registry(store)
    local = registry(store, verify_policy="local", local_grace=60, clock=clock)
    a = closed.create("quin")
    b = local.create("quin")
    unseen = local.create("quin")
    closed.verify(a.key)
    local.verify(b.key)

    def fails_closed(keys: ApiKeys, key: str) -> None:
        started = time.perf_counter()
        with pytest.raises(StoreUnavailableError):
            keys.verify(key)
        # The bound, with room for a loaded machine's scheduling.
        assert time.perf_counter() - started < 0.5

    fresh_redis_server.pause()
    try:
        for _ in range(3):
            fails_closed(closed, a.key)
        assert local.verify(b.key).id == b.id
        fails_closed(local, unseen.key)
        with pytest.raises(InvalidApiKeyError):
            local.verify(with_wrong_secret(b.key))
    finally:
        fresh_redis_server.resume()

    fresh_redis_server.stop()
    for _ in range(3):
        fails_closed(closed, a.key)
    with pytest.raises(StoreUnavailableError):
        closed.create("quin")

    async def alist() -> None:
        await closed.alist("quin")

    with pytest.raises(StoreUnavailableError):
        asyncio.run(alist())
    clock.advance(61)
    fails_closed(local, b.key)


def test_every_redis_key_has_a_ttl_but_valid_keys_without_expiry(
    redis_server: redis_harness.RedisServer, redis_prefix: str
) -> None:
    clock = ManualClock(NOW)
    keys = registry(Store(redis_server.url, timeout=2.0, prefix=redis_prefix, clock=clock))
    keys.create("lea", ttl=3600)
    revoked = keys.create("max")
    keys.revoke(revoked.id, by="max")
    forever = keys.create("ned")
    found = redis_server.command("KEYS", redis_prefix + "*")
    assert len(found) == 6
    exceptions = {
        f"{redis_prefix}apikey:{{{forever.id}}}".encode(),
        f"{redis_prefix}apikey-owner:{{ned}}".encode(),
    }
    for key in found:
        ttl = redis_server.command("PTTL", key)
        if key in exceptions:
            assert ttl == -1, key
        else:
            assert ttl > 0, key
    keys.revoke(forever.id, by="ned")
    assert all(redis_server.command("PTTL", k) > 0 for k in redis_server.command("KEYS", redis_prefix + "*"))


def test_bad_arguments() -> None:
    hasher = ApiKeyHasher(PEPPER_V1)
    with pytest.raises(InvalidArgumentError):
        ApiKeys(hasher, verify_policy="fail_open")
    with pytest.raises(InvalidArgumentError):
        ApiKeys(hasher, verify_policy="maybe")
    with pytest.raises(InvalidArgumentError):
        ApiKeys(hasher, prefix="Bad_Prefix")
    with pytest.raises(InvalidArgumentError):
        ApiKeys(hasher, max_keys_per_owner=0)
    keys = ApiKeys(hasher, prefix="acme")
    made = keys.create("kai")
    assert made.key.startswith("acme_")
    assert "acme" in repr(keys) and "memory" in repr(keys)
    with pytest.raises(TypeError):
        keys.create(1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        keys.verify(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        keys.create("")
    with pytest.raises(InvalidArgumentError):
        keys.create("kai", rate_limit=(0, 60))
    with pytest.raises(InvalidArgumentError):
        keys.revoke_all("")
