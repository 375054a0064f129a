"""The Redis test harness itself (redis_harness.py and the conftest fixtures): real servers start, stop,
restart, pause and resume as the fault tests expect, a cluster covers every slot with three masters, and
no redis-server outlives the Python process, however it ends."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis_harness
from redis_harness import CLUSTER_SLOTS, RedisCluster, RedisServer, ReplyError

HERE = Path(__file__).resolve().parent


def raw_ping(port: int, timeout: float) -> bytes:
    """A PING written and read by hand, independent of the harness's RESP code."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.settimeout(timeout)  # for the reply only
        sock.sendall(b"*1\r\n$4\r\nPING\r\n")
        return sock.recv(7)


def refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        # The process may be reaped between the signal and the read.
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].strip()
    except FileNotFoundError:
        return False
    return not state.startswith("Z")


def test_server_answers_ping_over_tcp(redis_server: RedisServer, redis_prefix: str) -> None:
    assert raw_ping(redis_server.port, 5) == b"+PONG\r\n"
    assert redis_server.url == f"redis://127.0.0.1:{redis_server.port}"
    assert redis_server.running and not redis_server.paused
    key = redis_prefix + "k"
    assert redis_server.command("SET", key, "v", "EX", 60) == "OK"
    assert redis_server.command("GET", key) == b"v"
    assert redis_server.command("GET", redis_prefix + "missing") is None
    with pytest.raises(ReplyError, match="unknown command"):
        redis_server.command("NO-SUCH-COMMAND")


def test_server_has_no_persistence_and_binds_loopback_only(redis_server: RedisServer) -> None:
    def config(name: str) -> bytes:
        return redis_server.command("CONFIG", "GET", name)[1]

    assert config("save") == b""
    assert config("appendonly") == b"no"
    assert config("bind") == b"127.0.0.1"
    assert config("port") == str(redis_server.port).encode()


def test_session_fixture_is_shared(redis_server: RedisServer, request: pytest.FixtureRequest) -> None:
    assert request.getfixturevalue("redis_server") is redis_server
    assert redis_harness.unique_prefix("x") != redis_harness.unique_prefix("x")


def test_stop_closes_the_port_and_restart_answers_on_the_same_port(fresh_redis_server: RedisServer) -> None:
    server = fresh_redis_server
    port, first_pid = server.port, server.pid
    server.command("SET", "before-stop", "1")

    server.stop()
    assert not server.running and server.pid is None
    assert refuses(port)
    server.stop()  # idempotent

    server.restart()
    assert server.port == port
    assert server.pid not in (None, first_pid)
    assert raw_ping(port, 5) == b"+PONG\r\n"
    assert server.command("GET", "before-stop") is None  # nothing persisted

    server.restart()  # of a running server
    assert server.ping()


def test_pause_accepts_connections_but_never_answers_until_resume(fresh_redis_server: RedisServer) -> None:
    server = fresh_redis_server
    server.pause()
    assert server.paused
    with pytest.raises(TimeoutError):
        raw_ping(server.port, 0.3)  # the connection is accepted (kernel backlog); the read times out
    assert not server.ping(timeout=0.3)

    server.resume()
    assert not server.paused
    assert raw_ping(server.port, 5) == b"+PONG\r\n"

    server.pause()
    server.stop()  # a paused server is still killed
    assert refuses(server.port)


def test_close_removes_everything() -> None:
    server = redis_harness.server_or_skip()
    pid, port, directory = server.pid, server.port, server.directory
    assert pid is not None and directory.is_dir()
    server.close()
    server.close()
    assert not process_exists(pid) and refuses(port) and not directory.exists()


def test_cluster_has_three_masters_covering_every_slot(redis_cluster: RedisCluster) -> None:
    assert len(redis_cluster.urls) == 3
    assert redis_cluster.urls == [f"redis://127.0.0.1:{n.port}" for n in redis_cluster.nodes]
    for node in redis_cluster.nodes:
        info = node.command("CLUSTER", "INFO").decode()
        assert "cluster_state:ok" in info
        assert f"cluster_slots_assigned:{CLUSTER_SLOTS}" in info
        assert "cluster_known_nodes:3" in info
        nodes = node.command("CLUSTER", "NODES").decode()
        assert sum("master" in line for line in nodes.splitlines()) == 3, nodes
        assert "fail" not in nodes

    spans = sorted(
        (start, end, master[1])
        for start, end, master, *_ in redis_cluster.nodes[0].command("CLUSTER", "SLOTS")
    )
    expected = 0
    for start, end, _ in spans:
        assert start == expected, spans
        expected = end + 1
    assert expected == CLUSTER_SLOTS
    assert len({port for *_, port in spans}) == 3


def test_cluster_key_is_served_by_its_node_and_moved_elsewhere(
    redis_cluster: RedisCluster, redis_prefix: str
) -> None:
    owners = set()
    for i in range(12):
        key = f"{redis_prefix}key-{i}"
        slot = redis_harness.key_slot(key)
        assert redis_cluster.nodes[0].command("CLUSTER", "KEYSLOT", key) == slot
        owner = redis_cluster.node_for_key(key)
        owners.add(owner.port)
        assert owner.command("SET", key, "v", "EX", 60) == "OK"
        assert owner.command("GET", key) == b"v"
        for other in redis_cluster.nodes:
            if other is not owner:
                with pytest.raises(ReplyError) as moved:
                    other.command("GET", key)
                assert str(moved.value) == f"MOVED {slot} 127.0.0.1:{owner.port}"
    assert len(owners) > 1

    a, b = f"{{{redis_prefix}}}:a", f"{{{redis_prefix}}}:b"
    owner = redis_cluster.node_for_key(a)
    assert owner is redis_cluster.node_for_key(b)
    assert owner.command("MSET", a, "1", b, "2") == "OK"
    assert owner.command("MGET", a, b) == [b"1", b"2"]
    owner.command("DEL", a, b)


def test_slot_function_matches_redis() -> None:
    assert redis_harness.crc16(b"123456789") == 0x31C3
    assert redis_harness.key_slot("foo") == 12182
    assert redis_harness.key_slot("{user1000}.following") == redis_harness.key_slot("user1000")
    assert redis_harness.key_slot("foo{}{bar}") == redis_harness.crc16(b"foo{}{bar}") % CLUSTER_SLOTS
    assert redis_harness.key_slot("foo{{bar}}zap") == redis_harness.key_slot("{bar")


def test_missing_redis_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(redis_harness.RedisUnavailable, match=r"^redis-server and redis-cli not on PATH$"):
        redis_harness.find_tools(str(tmp_path))

    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"^redis-server not found: redis-cli not on PATH"):
        redis_harness.skip_or_fail("redis-cli not on PATH")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        redis_harness.skip_or_fail("redis-cli not on PATH")


PROBE = """
import sys
sys.path.insert(0, sys.argv[1])
import redis_harness as h
servers = [h.start_server(), h.start_server()]
cluster = h.start_cluster()
servers += cluster.nodes
print(" ".join(f"{s.pid}:{s.port}:{s.directory}" for s in servers), flush=True)
if sys.argv[2] == "wait":
    sys.stdin.read()  # until killed
"""


def run_probe(mode: str) -> tuple[subprocess.Popen[str], list[tuple[int, int, Path]]]:
    probe = subprocess.Popen(
        [sys.executable, "-c", PROBE, str(HERE), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert probe.stdout is not None
    line = probe.stdout.readline()
    servers = [(int(pid), int(port), Path(d)) for pid, port, d in (s.split(":", 2) for s in line.split())]
    assert len(servers) == 5, line
    return probe, servers


def assert_all_gone(servers: list[tuple[int, int, Path]]) -> None:
    deadline = time.monotonic() + 10
    for pid, port, directory in servers:
        while process_exists(pid) or directory.exists():
            assert time.monotonic() < deadline, f"redis-server {pid} (port {port}) outlived its process"
            time.sleep(0.02)
        assert refuses(port)


@pytest.mark.parametrize("ending", ["SIGKILL", "exit"])
def test_no_redis_server_outlives_its_python_process(ending: str) -> None:
    try:
        redis_harness.find_tools()
    except redis_harness.RedisUnavailable as e:
        redis_harness.skip_or_fail(str(e))
    probe, servers = run_probe("wait" if ending == "SIGKILL" else "exit")
    for pid, port, _ in servers:
        assert process_exists(pid) or ending == "exit", pid
    if ending == "SIGKILL":
        probe.send_signal(signal.SIGKILL)  # no atexit, no finalizer: only the watchdogs act
    probe.stdin.close()
    probe.wait(timeout=30)
    assert_all_gone(servers)
