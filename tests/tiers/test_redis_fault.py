"""RedisStore against a private redis-server that is killed, frozen and restarted."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port

from hydracache_sync.errors import TierError, TierTimeoutError, TierUnavailableError
from hydracache_sync.tiers.base import StoreItem

redis = pytest.importorskip("redis")

from redis.backoff import NoBackoff  # noqa: E402
from redis.retry import Retry  # noqa: E402

from hydracache_sync.tiers.redis import RedisStore  # noqa: E402

pytestmark = [pytest.mark.redis, pytest.mark.fault]


class PrivateRedis:
    """A throwaway ``redis-server`` on a loopback port, run from ``directory``.

    Reused by the other Redis test modules (cluster nodes, round-trip counts).
    """

    def __init__(self, directory: Path, *extra: str, port: int | None = None) -> None:
        self.directory = directory
        self.extra = extra
        self._auto_port = port is None
        self.port = port if port is not None else free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's redis-py URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        """Start the server on its port and wait until it answers PING.

        A port picked by :func:`free_port` can be taken by another process
        before the server binds it; then a fresh port is tried (twice at most).
        """
        for attempt in range(3):
            if self._spawn(timeout) or not self._auto_port or attempt == 2:
                return
            self.port = free_port()

    def _spawn(self, timeout: float) -> bool:
        """Run the server; False if its port was already in use."""
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("the redis-server binary is not installed")
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no", "--daemonize", "no", *self.extra]
        log = self.directory / f"redis-{self.port}.log"
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                args, cwd=self.directory, stdout=out, stderr=subprocess.STDOUT
            )
        # No client-side retries: each PING fails at once while the server boots.
        client = redis.Redis(
            host="127.0.0.1",
            port=self.port,
            socket_connect_timeout=0.5,
            retry=Retry(NoBackoff(), 0),
        )
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    client.ping()
                    return True
                except redis.RedisError:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        self.stop()
                        tail = log.read_text(errors="replace")[-2000:]
                        if "Address already in use" in tail:
                            return False
                        pytest.fail(f"redis-server failed on port {self.port}:\n{tail}")
                    time.sleep(0.02)
        finally:
            client.close()

    def kill(self) -> None:
        """Kill the server at once (SIGKILL) and reap it."""
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait(timeout=5)
            self.process = None

    def stop(self) -> None:
        """Terminate the server if it runs (always safe to call)."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGCONT)
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        self.process = None


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A private redis-server, stopped afterwards whatever happens."""
    private = PrivateRedis(tmp_path / "redis")
    try:
        private.start()
        yield private
    finally:
        private.stop()


@pytest.fixture
def store(server: PrivateRedis) -> Iterator[RedisStore]:
    """A store on the private server with short timeouts."""
    tier = RedisStore.from_url(
        server.url, prefix="fault:", socket_timeout=0.3, socket_connect_timeout=0.3
    )
    yield tier
    tier.close()


def _operations(store: RedisStore) -> dict[str, Callable[[], Any]]:
    """Every store operation that talks to Redis, by name."""
    return {
        "get": lambda: store.get("k"),
        "get_many": lambda: store.get_many(["k", "j"]),
        "set": lambda: store.set("k", b"w", 60, ("t",)),
        "set_many": lambda: store.set_many([StoreItem("k", b"w", None, ())]),
        "delete": lambda: store.delete("k"),
        "delete_many": lambda: store.delete_many(["k", "j"]),
        "invalidate_tag": lambda: store.invalidate_tag("t"),
        "invalidate_pattern": lambda: store.invalidate_pattern("k*"),
        "clear": store.clear,
    }


def test_killed_server_raises_tier_errors_then_recovers(
    server: PrivateRedis, store: RedisStore
) -> None:
    """A dead server gives TierUnavailableError fast; a restart heals the store."""
    store.set("k", b"v", None, ("t",))
    assert b"v" == store.get("k")
    server.kill()
    for name, operation in _operations(store).items():
        started = time.monotonic()
        with pytest.raises((TierUnavailableError, TierTimeoutError)) as info:
            operation()
        assert "redis" == info.value.tier, name
        assert isinstance(info.value.__cause__, redis.RedisError), name
        assert time.monotonic() - started < 2.0, name
    server.start()
    # No persistence: the restarted server is empty, and the same store works.
    assert store.get("k") is None
    store.set("k", b"again", 60, ("t",))
    assert b"again" == store.get("k")
    assert 1 == store.invalidate_tag("t")


def test_frozen_server_raises_timeout(server: PrivateRedis, store: RedisStore) -> None:
    """A server that stops answering gives TierTimeoutError within the timeout."""
    store.set("k", b"v", None, ())
    assert server.process is not None
    server.process.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(TierTimeoutError) as info:
            store.get("k")
        elapsed = time.monotonic() - started
    finally:
        server.process.send_signal(signal.SIGCONT)
    assert isinstance(info.value, TimeoutError)
    assert isinstance(info.value.__cause__, redis.TimeoutError)
    # socket_timeout=0.3 and no retry after a timeout.
    assert elapsed < 1.0
    assert b"v" == store.get("k")


def test_errors_never_leak_driver_exceptions(server: PrivateRedis) -> None:
    """Nothing but TierError escapes, even on a port where nothing listens."""
    server.kill()
    tier = RedisStore.from_url(server.url, socket_connect_timeout=0.3)
    try:
        for name, operation in _operations(tier).items():
            with pytest.raises(TierError) as info:
                operation()
            assert isinstance(info.value, TierUnavailableError), name
    finally:
        tier.close()
