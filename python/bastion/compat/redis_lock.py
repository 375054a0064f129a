"""python-redis-lock 4.x on bastion's leases: change ``import redis_lock`` to
``from bastion.compat import redis_lock`` and the code runs unchanged.

What is python-redis-lock's: ``Lock(redis_client, name, expire=None, id=None, auto_renewal=False,
strict=True, signal_expire=1000)``, ``acquire(blocking=True, timeout=None)``, ``release()``,
``extend(expire=None)``, ``locked()``, ``get_owner_id()``, ``reset()``, ``id``, use as a context
manager, and the exceptions ``NotAcquired``, ``AlreadyAcquired``, ``AlreadyStarted``,
``TimeoutNotUsable``, ``InvalidTimeout``, ``TimeoutTooLarge`` and ``NotExpirable`` (``RuntimeError``
subclasses, as there; also :class:`bastion.exceptions.BastionError`).

``redis_client`` may be a redis-py client (its host, port, db and credentials are used to open a
:class:`bastion.Store`), a ``redis://`` / ``redis+cluster://`` URL, or a :class:`bastion.Store`
(the memory store works too, for one process). A store opened from a client or a URL bounds each
round trip to 2 s.

What is better, from the core's leases:

- **Waiters wake by broadcast**: a release publishes once and every waiter of every process wakes
  at once (python-redis-lock pushes one token on a list, which wakes one waiter at a time), with a
  timer at the holder's expiry as the fallback.
- **Fencing**: each grant carries a token (``fence``) larger than every earlier one; release and
  extend check the owner id and, for the object that acquired, its grant.
- **Every lock expires**: ``expire=None`` means a lease of 60 s renewed every 20 s while held, so
  a killed holder frees the lock after a minute instead of never. ``NotExpirable`` is therefore
  never raised.
- **Auto-renewal** runs on the engine's I/O thread (no thread per lock); a renewal that finds the
  lock gone is visible as ``lock.lost``.

Not taken: ``reset_all()`` (it ran ``KEYS lock:*``, blocking Redis and breaking other processes'
locks). The keys differ from python-redis-lock's (``lease:{lock:<name>}``), so both libraries must
not guard the same resource at the same time during a migration.
"""

from __future__ import annotations

import os
import threading
from base64 import b64encode
from types import TracebackType
from typing import Any
from urllib.parse import quote

from bastion import _native
from bastion.exceptions import (
    AlreadyAcquired,
    AlreadyStarted,
    InvalidTimeout,
    NotAcquired,
    NotExpirable,
    TimeoutNotUsable,
    TimeoutTooLarge,
)

__all__ = [
    "AlreadyAcquired",
    "AlreadyStarted",
    "InvalidTimeout",
    "Lock",
    "NotAcquired",
    "NotExpirable",
    "TimeoutNotUsable",
    "TimeoutTooLarge",
]

# The lease of a lock made without ``expire``: renewed at a third of it while held.
_UNEXPIRING_TTL = 60.0
# A wait without a timeout is made of waits this long (the lease wait takes a bound).
_WAIT_CHUNK = 3600.0
# The bound on one Redis round trip of a lock opened from a client or a URL (redis-py has none by
# default; a lock is rarely on a latency budget, but it must never hang).
_STORE_TIMEOUT = 2.0

_lock = threading.Lock()
_leases_by_url: dict[str, _native.Leases] = {}
_leases_by_store: dict[int, tuple[_native.Store, _native.Leases]] = {}


def _url_of(client: Any) -> str:
    """The URL of a redis-py client's server."""
    try:
        kw = client.connection_pool.connection_kwargs
    except AttributeError:
        raise TypeError("redis_client must be a redis-py client, a redis:// URL or a bastion.Store") from None
    if "path" in kw:
        raise TypeError("unix-socket Redis connections are not supported; pass a redis:// URL")
    auth = ""
    if kw.get("password"):
        user = quote(str(kw.get("username") or ""), safe="")
        auth = f"{user}:{quote(str(kw['password']), safe='')}@"
    return f"redis://{auth}{kw.get('host', 'localhost')}:{kw.get('port', 6379)}/{kw.get('db', 0)}"


def _leases(client: Any) -> _native.Leases:
    """One set of leases (one broadcast subscription) per server, per process."""
    with _lock:
        if isinstance(client, _native.Store):
            hit = _leases_by_store.get(id(client))
            if hit is None or hit[0] is not client:
                hit = (client, _native.Leases(client))
                _leases_by_store[id(client)] = hit
            return hit[1]
        url = client if isinstance(client, str) else _url_of(client)
        leases = _leases_by_url.get(url)
        if leases is None:
            leases = _native.Leases(_native.Store(url, timeout=_STORE_TIMEOUT))
            _leases_by_url[url] = leases
        return leases


class Lock:
    """A lock named ``name`` shared by every process using the same Redis (see the module
    documentation)."""

    def __init__(
        self,
        redis_client: Any,
        name: str,
        expire: float | None = None,
        id: str | bytes | None = None,
        auto_renewal: bool = False,
        strict: bool = True,
        signal_expire: int = 1000,
    ) -> None:
        del strict, signal_expire  # python-redis-lock's; no signal list here
        if auto_renewal and expire is None:
            raise ValueError("Expire may not be None when auto_renewal is set")
        if expire:
            expire = int(expire)
            if expire < 0:
                raise ValueError("A negative expire is not acceptable.")
        else:
            expire = None
        self._expire: int | None = expire
        if id is None:
            self._id = b64encode(os.urandom(18)).decode("ascii")
        elif isinstance(id, bytes):
            try:
                self._id = id.decode("ascii")
            except UnicodeDecodeError:
                self._id = b64encode(id).decode("ascii")
        elif isinstance(id, str):
            self._id = id
        else:
            raise TypeError(f"Incorrect type for `id`. Must be bytes/str not {type(id)}.")
        self._name = "lock:" + name
        self._auto_renewal = auto_renewal
        self._leases = _leases(redis_client)
        self._lease: _native.Lease | None = None

    @property
    def id(self) -> str:
        """The owner id this lock acquires with."""
        return self._id

    @property
    def fence(self) -> int | None:
        """The fencing token of the grant this object holds (None when it holds none)."""
        return None if self._lease is None else self._lease.fence

    @property
    def lost(self) -> bool:
        """True when a renewal found the lock gone (expired or taken over) while held."""
        return self._lease is not None and self._lease.lost

    @property
    def _held(self) -> bool:
        return self.id == self.get_owner_id()

    def get_owner_id(self) -> str | None:
        """The id of the lock's holder, or None."""
        h = self._leases.holder(self._name)
        return None if h is None else h[0]

    def _ttl(self) -> float:
        return float(self._expire) if self._expire else _UNEXPIRING_TTL

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Takes the lock: waits (woken by the release's broadcast, or at the holder's expiry)
        when ``blocking``, at most ``timeout`` seconds when given; False when not taken."""
        if self._held:
            raise AlreadyAcquired("Already acquired from this Lock instance.")
        if not blocking and timeout is not None:
            raise TimeoutNotUsable("Timeout cannot be used if blocking=False")
        if timeout:
            if timeout < 0:
                raise InvalidTimeout(f"Timeout ({timeout}) cannot be less than or equal to 0")
            if self._expire and not self._auto_renewal and timeout > self._expire:
                raise TimeoutTooLarge(f"Timeout ({timeout}) cannot be greater than expire ({self._expire})")
        ttl = self._ttl()
        if not blocking:
            lease = self._leases.acquire(self._name, self._id, ttl)
        elif timeout:
            lease = self._leases.acquire(self._name, self._id, ttl, timeout)
        else:
            lease = None
            while lease is None:
                lease = self._leases.acquire(self._name, self._id, ttl, _WAIT_CHUNK)
        if lease is None:
            return False
        self._lease = lease
        if self._auto_renewal or self._expire is None:
            lease.start_renewal()
        return True

    def extend(self, expire: float | None = None) -> None:
        """Extends the lock to ``expire`` seconds from now (the lock's ``expire`` when None);
        ``NotAcquired`` when this id does not hold it."""
        if expire:
            expire = int(expire)
            if expire < 0:
                raise ValueError("A negative expire is not acceptable.")
        elif self._expire is not None:
            expire = self._expire
        else:
            raise TypeError(
                "To extend a lock 'expire' must be provided as an argument to extend() method "
                "or at initialization time."
            )
        if self._lease is not None:
            ok = self._lease.extend(expire)
        else:
            ok = self._leases.renew(self._name, self._id, expire)
        if not ok:
            raise NotAcquired(f"Lock {self._name} is not acquired or it already expired.")

    def release(self) -> None:
        """Releases the lock (waking every waiter); ``NotAcquired`` when this id does not hold
        it."""
        lease, self._lease = self._lease, None
        if lease is not None:
            ok = lease.release()
        else:
            ok = self._leases.release(self._name, self._id)
        if not ok:
            raise NotAcquired(f"Lock({self._name}) is not acquired or it already expired.")

    def locked(self) -> bool:
        """True when anyone holds the lock."""
        return self._leases.holder(self._name) is not None

    def reset(self) -> None:
        """Forcibly deletes the lock, whoever holds it, and wakes its waiters. Use with care."""
        self._leases.reset(self._name)

    def __enter__(self) -> Lock:
        if not self.acquire(blocking=True):
            raise AssertionError(f"Lock({self._name}) wasn't acquired, but blocking=True was used!")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"Lock({self._name[5:]!r}, fence={self.fence})"
