"""Real Redis for the Python tests: a standalone ``redis-server`` and a three-master Redis Cluster,
each started on free loopback ports.

Tests use the fixtures of ``conftest.py`` (``redis_server``, ``fresh_redis_server``, ``redis_cluster``);
this module does the work, and is usable on its own::

    server = start_server()          # raises RedisUnavailable when redis-server/redis-cli are missing
    server.pause(); server.resume(); server.stop(); server.restart()
    server.close()                   # or ``with start_server() as server: ...``
    cluster = start_cluster(replicas=1, node_timeout_ms=1000)  # three masters, a replica each
    replica = cluster.replica_of(cluster.masters()[0]); cluster.masters()[0].stop()
    cluster.wait_promoted(replica)   # the automatic failover

Guarantees:

- Every server binds 127.0.0.1 only, on a port that was free, without persistence (``--save ''``,
  ``--appendonly no``), in its own temporary directory (which also holds its log, ``redis.log``).
- No orphan process. Each ``redis-server`` runs under a small ``sh`` watchdog that reads a pipe whose only
  writer is this Python process. However the process ends (return, exception, SIGKILL), the kernel closes
  the pipe; the watchdog then kills the server with SIGKILL, reaps it and removes its directory. An
  ``atexit`` hook also closes every server still open. ``redis-cli --cluster create`` runs under the same
  kind of watchdog.
- Skip policy (:func:`skip_or_fail`): when the programs are missing, ``pytest.skip("redis-server not
  found: ...")``, or ``pytest.fail(...)`` when ``CI=true``: CI must run these tests (``make redis``).
"""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, NoReturn

CLUSTER_SLOTS = 16384
START_TIMEOUT = 20.0
CLUSTER_TIMEOUT = 60.0
COMMAND_TIMEOUT = 5.0
PORT_ATTEMPTS = 5
# A cluster node's cluster-node-timeout (ms); clusters with replicas for failover tests use a shorter one.
NODE_TIMEOUT_MS = 3000

# Starts the server ($2...) in the background, prints its pid, then blocks reading stdin. A line "keep"
# (stop) or end of file (the owner closed the pipe or died) kills and reaps the server; only end of file
# also removes its directory ($1). SIGPIPE is ignored so an owner that died before reading the pid cannot
# kill the watchdog first; INT, TERM and HUP (Ctrl-C, `timeout`: the whole process group) are ignored once
# the server runs, so the watchdog stays to clean up after the owner.
SERVER_WATCHDOG = r"""trap '' PIPE
dir=$1
shift
"$@" >>"$dir/redis.log" 2>&1 </dev/null &
pid=$!
trap '' INT TERM HUP
echo "$pid"
IFS= read -r line
kill -KILL "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
[ "$line" = keep ] || rm -rf "$dir"
"""

# Runs a command that ends by itself ($@), exits with its status, and kills it if stdin ends first.
COMMAND_WATCHDOG = r"""trap '' PIPE INT TERM HUP
exec 3<&0
"$@" </dev/null &
pid=$!
{ IFS= read -r line <&3; kill -KILL "$pid" 2>/dev/null; } &
watcher=$!
exec 3<&-
wait "$pid"
status=$?
kill -KILL "$watcher" 2>/dev/null
exit "$status"
"""


class RedisUnavailable(Exception):
    """``redis-server`` or ``redis-cli`` is not on PATH."""


class ReplyError(Exception):
    """An error reply (``-ERR ...``, ``-MOVED 1234 127.0.0.1:7001``)."""


# ---------------------------------------------------------------------------------------------------------
# Tools and the skip policy
# ---------------------------------------------------------------------------------------------------------


def find_tools(path: str | None = None) -> tuple[str, str]:
    """``(redis-server, redis-cli)`` found on ``path`` (default: ``PATH``); RedisUnavailable names what is
    missing."""
    if path is None:
        path = os.environ.get("PATH", "")
    server = shutil.which("redis-server", path=path)
    cli = shutil.which("redis-cli", path=path)
    if server and cli:
        return server, cli
    missing = [name for name, found in (("redis-server", server), ("redis-cli", cli)) if not found]
    raise RedisUnavailable(f"{' and '.join(missing)} not on PATH")


def in_ci() -> bool:
    """True when ``CI`` is ``true`` (as CI systems set it; ``1`` is accepted too)."""
    return os.environ.get("CI", "").lower() in ("true", "1")


def skip_message(why: str) -> str:
    return f"redis-server not found: {why}; `make redis` installs it"


def skip_or_fail(why: str) -> NoReturn:
    """The skip policy: ``pytest.skip`` locally, ``pytest.fail`` when ``CI=true``."""
    import pytest

    if in_ci():
        pytest.fail(f"{skip_message(why)} (CI=true: the Redis tests must run in CI)", pytrace=False)
    pytest.skip(skip_message(why))


def _server_major(server: str) -> int:
    try:
        out = subprocess.run([server, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    for word in out.split():
        if word.startswith("v="):
            major = word[2:].split(".")[0]
            return int(major) if major.isdigit() else 0
    return 0


class _Tools:
    def __init__(self) -> None:
        self.server, self.cli = find_tools()
        self.major = _server_major(self.server)


_tools: _Tools | None = None


def _get_tools() -> _Tools:
    global _tools
    if _tools is None:
        _tools = _Tools()
    return _tools


# ---------------------------------------------------------------------------------------------------------
# Ports, directories, the registry of open processes
# ---------------------------------------------------------------------------------------------------------

_lock = threading.Lock()
_given_ports: set[int] = set()
_open: set[_Watched] = set()
_counter = itertools.count()


def _free_port() -> int:
    """A loopback port that was free a moment ago and that this process has not handed out before."""
    with _lock:
        for _ in range(100):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port: int = s.getsockname()[1]
            if port not in _given_ports:
                _given_ports.add(port)
                return port
    raise RuntimeError("no unused loopback port after 100 tries")


def _free_port_with_bus() -> int:
    """A free port whose default cluster bus port (port + 10000) is free too (Redis before 7.0)."""
    for _ in range(100):
        port = _free_port()
        if port + 10000 <= 65535:
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
                return port
    raise RuntimeError("no loopback port with a free bus port after 100 tries")


def _new_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix=f"bastion-redis-{os.getpid()}-{next(_counter)}-"))


class _Watched:
    """A ``redis-server`` under its watchdog."""

    def __init__(self, directory: Path, argv: list[str]) -> None:
        self.watchdog = subprocess.Popen(
            ["sh", "-c", SERVER_WATCHDOG, "sh", str(directory), *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert self.watchdog.stdout is not None
        line = self.watchdog.stdout.readline()
        self.watchdog.stdout.close()
        with _lock:
            _open.add(self)
        try:
            self.pid = int(line)
        except ValueError:
            self.kill(keep_dir=False)
            raise RuntimeError(f"the watchdog printed no pid: {line!r}") from None

    def kill(self, keep_dir: bool) -> None:
        """Kills the server and waits until it is reaped; ``keep_dir`` leaves its directory in place."""
        stdin = self.watchdog.stdin
        if stdin is not None and not stdin.closed:
            try:
                if keep_dir:
                    stdin.write(b"keep\n")
                    stdin.flush()
                stdin.close()
            except OSError:
                pass
        self.watchdog.wait()
        with _lock:
            _open.discard(self)

    def has_exited(self) -> bool:
        """True when the server has exited (Linux: gone from /proc, or a zombie); elsewhere False."""
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return Path("/proc/self").exists()
        return stat.rpartition(")")[2].strip().startswith("Z")


@atexit.register
def _close_all() -> None:
    with _lock:
        remaining = list(_open)
    for watched in remaining:
        watched.kill(keep_dir=False)


# ---------------------------------------------------------------------------------------------------------
# A minimal RESP2 client
# ---------------------------------------------------------------------------------------------------------

Reply = Any  # str (status), bytes (bulk), int, None, list


def encode_command(*args: str | bytes | int) -> bytes:
    out = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out += [f"${len(data)}\r\n".encode(), data, b"\r\n"]
    return b"".join(out)


def _read_reply(f: Any) -> Reply:
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("connection closed mid-reply")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        return ReplyError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        if len(data) != n + 2:
            raise ConnectionError("connection closed mid-reply")
        return data[:n]
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read_reply(f) for _ in range(n)]
    raise ConnectionError(f"unknown reply type {kind!r}")


def command_at(port: int, *args: str | bytes | int, timeout: float = COMMAND_TIMEOUT) -> Reply:
    """Sends one command to ``127.0.0.1:port`` and returns its reply: ``str`` for a status, ``bytes`` for a
    bulk string, ``int``, ``None`` or a ``list``. An error reply raises :class:`ReplyError` (inside a list
    it is returned as one). ``timeout`` bounds the connect and each read (``TimeoutError``)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(encode_command(*args))
        with sock.makefile("rb") as f:
            reply = _read_reply(f)
    if isinstance(reply, ReplyError):
        raise reply
    return reply


# ---------------------------------------------------------------------------------------------------------
# RedisServer
# ---------------------------------------------------------------------------------------------------------


class _PortTaken(Exception):
    pass


class RedisServer:
    """One ``redis-server`` on a loopback port. :meth:`close` (or leaving a ``with`` block, or the end of
    the interpreter, or of the process however it ends) kills it."""

    def __init__(
        self, port: int, bus_port: int | None, directory: Path, node_timeout_ms: int = NODE_TIMEOUT_MS
    ) -> None:
        self._port = port
        self._bus_port = bus_port
        self._node_timeout_ms = node_timeout_ms
        self.directory = directory
        self._process: _Watched | None = None
        self._paused = False

    # -- starting ------------------------------------------------------------------------------------------

    @classmethod
    def start(cls, *, cluster_node: bool = False, node_timeout_ms: int = NODE_TIMEOUT_MS) -> RedisServer:
        """Starts a server on a free port and waits until it answers. Raises :class:`RedisUnavailable` when
        the programs are missing, ``RuntimeError`` when the server does not start. ``node_timeout_ms`` is a
        cluster node's ``cluster-node-timeout``: how long a master may be unreachable before its replica
        takes over."""
        tools = _get_tools()
        last = ""
        for _ in range(PORT_ATTEMPTS):
            if not cluster_node:
                port, bus = _free_port(), None
            elif tools.major >= 7:
                port, bus = _free_port(), _free_port()
            else:
                port = _free_port_with_bus()
                bus = port + 10000
            server = cls(port, bus, _new_dir(), node_timeout_ms)
            try:
                server._spawn()
                return server
            except _PortTaken as e:
                last = str(e)
                server.close()
            except BaseException:
                server.close()
                raise
        raise RuntimeError(f"redis-server found no free port in {PORT_ATTEMPTS} tries; last: {last}")

    def _argv(self) -> list[str]:
        tools = _get_tools()
        argv = [tools.server, "--port", str(self._port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "no", "--daemonize", "no", "--dir", str(self.directory)]
        if self._bus_port is not None:
            argv += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
            argv += ["--cluster-node-timeout", str(self._node_timeout_ms)]
            if tools.major >= 7:
                argv += ["--cluster-port", str(self._bus_port)]
        return argv

    def _spawn(self) -> None:
        process = _Watched(self.directory, self._argv())
        self._process = process
        self._paused = False
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                info = command_at(self._port, "INFO", "server", timeout=1.0)
            except (OSError, ReplyError):
                pass
            else:
                fields = dict(line.split(":", 1) for line in info.decode().splitlines() if ":" in line)
                if fields.get("process_id", "").strip() == str(process.pid):
                    return
                self._kill(keep_dir=True)
                raise _PortTaken(f"port {self._port} is answered by another redis-server")
            if process.has_exited():
                self._kill(keep_dir=True)
                log = self.log()
                why = f"redis-server exited at start on port {self._port}:\n{log}"
                raise (_PortTaken(why) if "in use" in log else RuntimeError(why))
            if time.monotonic() > deadline:
                self._kill(keep_dir=True)
                raise RuntimeError(
                    f"redis-server did not answer on port {self._port} within {START_TIMEOUT}s:\n{self.log()}"
                )
            time.sleep(0.02)

    def _kill(self, keep_dir: bool) -> None:
        if self._process is not None:
            self._process.kill(keep_dir)
            self._process = None
        self._paused = False

    def _running(self) -> _Watched:
        if self._process is None:
            raise RuntimeError(f"redis-server on port {self._port} is stopped")
        return self._process

    # -- what tests use ------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT``."""
        return f"redis://127.0.0.1:{self._port}"

    @property
    def port(self) -> int:
        """The TCP port; the same across :meth:`restart`."""
        return self._port

    @property
    def pid(self) -> int | None:
        """The server's pid while it runs; None when stopped."""
        return None if self._process is None else self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None

    @property
    def paused(self) -> bool:
        return self._paused

    def stop(self) -> None:
        """Kills the server (SIGKILL: no shutdown, no save) and waits until it is gone: its port refuses
        connections when this returns. Idempotent."""
        self._kill(keep_dir=True)

    def restart(self) -> None:
        """Starts the server again on the same port (stopping it first if it runs) and waits until it
        answers. Its data is gone; a cluster node keeps its identity and slots (``nodes.conf``)."""
        self.stop()
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                self._spawn()
                return
            except _PortTaken as e:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"restart on port {self._port} failed: {e}") from None
                time.sleep(0.1)

    def pause(self) -> None:
        """Freezes the server (SIGSTOP): it still accepts TCP connections but answers nothing until
        :meth:`resume`."""
        os.kill(self._running().pid, signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        """Lets a paused server run again (SIGCONT)."""
        os.kill(self._running().pid, signal.SIGCONT)
        self._paused = False

    def command(self, *args: str | bytes | int, timeout: float = COMMAND_TIMEOUT) -> Reply:
        """One command; see :func:`command_at`."""
        return command_at(self._port, *args, timeout=timeout)

    def ping(self, timeout: float = COMMAND_TIMEOUT) -> bool:
        """True when the server answers PONG within ``timeout``."""
        try:
            return bool(self.command("PING", timeout=timeout) == "PONG")
        except (OSError, ReplyError):
            return False

    def log(self) -> str:
        """The server's output so far, for failure messages."""
        try:
            return (self.directory / "redis.log").read_text(errors="replace")
        except OSError:
            return ""

    def close(self) -> None:
        """Kills the server and removes its directory. Idempotent."""
        self._kill(keep_dir=False)
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "paused" if self._paused else "running" if self.running else "stopped"
        return f"<RedisServer {self.url} {state}>"


# ---------------------------------------------------------------------------------------------------------
# RedisCluster
# ---------------------------------------------------------------------------------------------------------


def _run_watched(argv: list[str], log: Path, timeout: float) -> int | None:
    """Runs ``argv`` under COMMAND_WATCHDOG, output to ``log``; its exit status, or None after a timeout
    (it is then killed, as it is if this process dies)."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["sh", "-c", COMMAND_WATCHDOG, "sh", *argv], stdin=subprocess.PIPE, stdout=out, stderr=out
        )
    assert proc.stdin is not None
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    finally:
        proc.stdin.close()  # the lifeline: closing it kills the command if it still runs
        proc.wait()


def crc16(data: bytes) -> int:
    """CRC16/XMODEM (polynomial 0x1021, initial value 0), as Redis Cluster uses."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def key_slot(key: str | bytes) -> int:
    """The hash slot of ``key``: CRC16 of the key, or of its non-empty ``{hash tag}``, modulo 16384."""
    data = key.encode() if isinstance(key, str) else key
    start = data.find(b"{")
    if start >= 0:
        end = data.find(b"}", start + 1)
        if end > start + 1:
            data = data[start + 1 : end]
    return crc16(data) % CLUSTER_SLOTS


class RedisCluster:
    """Three Redis Cluster masters on loopback ports, every slot assigned; with ``replicas=1``, one replica
    per master (six nodes) for failover tests."""

    def __init__(self, nodes: list[RedisServer]) -> None:
        self.nodes = nodes

    @classmethod
    def start(cls, *, replicas: int = 0, node_timeout_ms: int = NODE_TIMEOUT_MS) -> RedisCluster:
        """Starts ``3 * (1 + replicas)`` cluster-enabled servers, joins them with ``redis-cli --cluster
        create --cluster-replicas N``, and waits until every node reports ``cluster_state:ok`` with all 16384
        slots assigned (and, with replicas, every replica linked to its master)."""
        tools = _get_tools()
        cluster = cls([])
        try:
            for _ in range(3 * (1 + replicas)):
                cluster.nodes.append(RedisServer.start(cluster_node=True, node_timeout_ms=node_timeout_ms))
            log = cluster.nodes[0].directory / "cluster-create.log"
            argv = [tools.cli, "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in cluster.nodes)]
            argv += ["--cluster-replicas", str(replicas), "--cluster-yes"]
            status = _run_watched(argv, log, CLUSTER_TIMEOUT)
            if status != 0:
                raise RuntimeError(f"redis-cli --cluster create failed ({status}):\n{log.read_text()}")
            cluster.wait_until_ok()
            if replicas:
                cluster.wait_replicas_linked()
        except BaseException:
            cluster.close()
            raise
        return cluster

    def roles(self) -> dict[int, tuple[str, int | None]]:
        """``{port: (role, master_port)}`` of every running node, as the nodes themselves say
        (``ROLE``): ``("master", None)`` or ``("slave", master_port)``; nodes that do not answer are left
        out."""
        roles: dict[int, tuple[str, int | None]] = {}
        for node in self.nodes:
            if not node.running or node.paused:
                continue
            try:
                role = node.command("ROLE", timeout=1.0)
            except (OSError, ReplyError):
                continue
            kind = role[0].decode()
            roles[node.port] = (kind, int(role[2]) if kind == "slave" else None)
        return roles

    def masters(self) -> list[RedisServer]:
        """The running nodes that are masters now."""
        roles = self.roles()
        return [n for n in self.nodes if roles.get(n.port, ("", None))[0] == "master"]

    def replica_of(self, master: RedisServer) -> RedisServer:
        """The replica of ``master``."""
        for node in self.nodes:
            if self.roles().get(node.port) == ("slave", master.port):
                return node
        raise LookupError(f"port {master.port} has no replica")

    def wait_replicas_linked(self, timeout: float = CLUSTER_TIMEOUT) -> None:
        """Waits until every replica reports its link to its master up (``master_link_status:up``)."""
        deadline = time.monotonic() + timeout
        while True:
            down = []
            for port, (kind, _) in self.roles().items():
                if kind != "slave":
                    continue
                node = next(n for n in self.nodes if n.port == port)
                info = node.command("INFO", "replication", timeout=1.0).decode()
                if "master_link_status:up" not in info:
                    down.append(port)
            if not down:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"replicas on ports {down} never linked to their masters")
            time.sleep(0.05)

    def wait_promoted(self, replica: RedisServer, timeout: float = CLUSTER_TIMEOUT) -> float:
        """Waits until ``replica`` is a master (a failover, automatic or ``CLUSTER FAILOVER``) and the
        nodes still running report ``cluster_state:ok``; returns the seconds waited."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        while True:
            if self.roles().get(replica.port, ("", None))[0] == "master" and not self._not_ready(
                running_only=True
            ):
                return time.monotonic() - t0
            if time.monotonic() > deadline:
                raise RuntimeError(f"port {replica.port} was not promoted within {timeout}s")
            time.sleep(0.02)

    def _not_ready(self, running_only: bool = False) -> list[str]:
        problems = []
        for node in self.nodes:
            if running_only and (not node.running or node.paused):
                continue
            try:
                info = node.command("CLUSTER", "INFO").decode()
            except (OSError, ReplyError) as e:
                problems.append(f"port {node.port}: {e}")
                continue
            lines = {line.strip() for line in info.splitlines()}
            wanted = {
                "cluster_state:ok",
                f"cluster_slots_assigned:{CLUSTER_SLOTS}",
                f"cluster_known_nodes:{len(self.nodes)}",
            }
            if not wanted <= lines:
                problems.append(f"port {node.port}:\n{info}")
        return problems

    def wait_until_ok(self, timeout: float = CLUSTER_TIMEOUT) -> None:
        """Waits until every node reports ``cluster_state:ok`` with all slots assigned (e.g. after a node
        restart); ``RuntimeError`` after ``timeout``."""
        deadline = time.monotonic() + timeout
        while problems := self._not_ready():
            if time.monotonic() > deadline:
                raise RuntimeError("the cluster did not reach cluster_state:ok: " + "\n".join(problems))
            time.sleep(0.05)

    @property
    def urls(self) -> list[str]:
        """``redis://127.0.0.1:PORT`` of every node, in start order."""
        return [n.url for n in self.nodes]

    @property
    def url(self) -> str:
        """The ``redis+cluster://host:port,...`` URL bastion's ``Store`` takes."""
        return "redis+cluster://" + ",".join(u.removeprefix("redis://") for u in self.urls)

    def node_for_key(self, key: str | bytes) -> RedisServer:
        """The node serving ``key``'s slot, as the cluster says (``CLUSTER SLOTS``)."""
        slot = key_slot(key)
        for start, end, master, *_ in self.nodes[0].command("CLUSTER", "SLOTS"):
            if start <= slot <= end:
                return next(n for n in self.nodes if n.port == master[1])
        raise LookupError(f"no node serves slot {slot}")

    def close(self) -> None:
        """Kills every node and removes their directories. Idempotent."""
        for node in self.nodes:
            node.close()

    def __enter__(self) -> RedisCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------------------


def start_server() -> RedisServer:
    """A fresh standalone server (:meth:`RedisServer.start`)."""
    return RedisServer.start()


def start_cluster(*, replicas: int = 0, node_timeout_ms: int = NODE_TIMEOUT_MS) -> RedisCluster:
    """A fresh three-master cluster, with ``replicas`` replicas per master (:meth:`RedisCluster.start`)."""
    return RedisCluster.start(replicas=replicas, node_timeout_ms=node_timeout_ms)


def server_or_skip() -> RedisServer:
    """A fresh server, or the skip policy when Redis is missing."""
    try:
        return start_server()
    except RedisUnavailable as e:
        skip_or_fail(str(e))


def cluster_or_skip(*, replicas: int = 0, node_timeout_ms: int = NODE_TIMEOUT_MS) -> RedisCluster:
    """A fresh cluster, or the skip policy when Redis is missing."""
    try:
        return start_cluster(replicas=replicas, node_timeout_ms=node_timeout_ms)
    except RedisUnavailable as e:
        skip_or_fail(str(e))


def unique_prefix(tag: str) -> str:
    """A key prefix no other test of this process gets, e.g. ``test:hits:4711:3:``."""
    return f"test:{tag}:{os.getpid()}:{next(_counter)}:"
