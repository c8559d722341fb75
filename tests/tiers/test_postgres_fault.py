"""PostgresStore against a private PostgreSQL that is stopped mid-use and restarted.

The server is a throwaway cluster (``initdb`` once per module) on a free
loopback port, run as the ``postgres`` user when the tests run as root (the
server refuses to run as root). It is always stopped with ``-m immediate``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port

from hydracache_sync import Cost, HydraCache
from hydracache_sync.errors import ConfigError, TierTimeoutError, TierUnavailableError
from hydracache_sync.tiers.base import StoreItem
from hydracache_sync.tiers.postgres import PostgresStore, migration_sql

psycopg2 = pytest.importorskip("psycopg2")

pytestmark = [pytest.mark.fault, pytest.mark.postgres, pytest.mark.timeout(60)]

BIN_DIRS = ["/usr/lib/postgresql/15/bin", "/usr/local/bin"]
FAILURES = (TierUnavailableError, TierTimeoutError)


def find_binary(name: str) -> str | None:
    """Locate a PostgreSQL server binary (the Debian bin dir is not on PATH)."""
    for directory in BIN_DIRS:
        candidate = Path(directory) / name
        if candidate.exists():
            return str(candidate)
    return shutil.which(name)


class PrivatePostgres:
    """A throwaway PostgreSQL cluster under a temp dir, on a loopback port.

    Reused by ``tests/test_tiering_postgres.py``. Call :meth:`create` once,
    then :meth:`start` / :meth:`stop` as often as needed, and :meth:`destroy`.
    """

    def __init__(self) -> None:
        initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
        if initdb is None or pg_ctl is None:
            pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        self.initdb, self.pg_ctl = initdb, pg_ctl
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                pytest.skip("running as root without runuser: cannot start postgres")
            try:
                import pwd

                self.owner = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root and there is no 'postgres' user")
            self.as_user = [runuser, "-u", "postgres", "--"]
        self.base = Path(tempfile.mkdtemp(prefix="hc-pg-"))
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        self.port = free_port()
        if self.as_user:
            os.chown(self.base, self.owner.pw_uid, self.owner.pw_gid)

    @property
    def dsn(self) -> str:
        """A DSN for the ``postgres`` database of this cluster."""
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.as_user, *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=60,
        )

    def create(self) -> None:
        """Run initdb (trust auth, superuser ``postgres``, no fsync)."""
        self._run(
            self.initdb, "-A", "trust", "-U", "postgres", "-D", str(self.data),
            "--no-sync", "-E", "UTF8",
        )  # fmt: skip

    def start(self) -> None:
        """Start the server on its port and wait until it accepts connections.

        A port picked by :func:`free_port` can be taken before the server binds
        it; then a fresh port is tried (twice at most).
        """
        for attempt in range(3):
            options = (
                f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1"
                " -c fsync=off"
            )
            result = self._run(
                self.pg_ctl, "-D", str(self.data), "-l", str(self.log), "-w",
                "-t", "30", "-o", options, "start", check=False,
            )  # fmt: skip
            if result.returncode == 0:
                return
            if attempt == 2:
                log = self.log.read_text() if self.log.exists() else ""
                pytest.fail(f"postgres did not start: {result.stderr}\n{log[-2000:]}")
            self.port = free_port()

    def stop(self) -> None:
        """Stop the server at once (``-m immediate``); no-op when stopped."""
        self._run(
            self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop",
            check=False,
        )  # fmt: skip

    def running(self) -> bool:
        """Tell whether the server is up."""
        status = self._run(self.pg_ctl, "-D", str(self.data), "status", check=False)
        return status.returncode == 0

    def destroy(self) -> None:
        """Stop the server and delete its files."""
        with contextlib.suppress(Exception):
            self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def pids(self) -> list[int]:
        """The postmaster's pid and its children's (every server process)."""
        text = (self.data / "postmaster.pid").read_text()
        postmaster = int(text.split()[0])
        children = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                # pid (comm) state ppid ...: comm may hold spaces, split after it.
                if int(stat.rsplit(")", 1)[1].split()[1]) == postmaster:
                    children.append(int(entry.name))
        return [postmaster, *children]

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """SIGSTOP every server process; SIGCONT them on exit, whatever happens."""
        stopped: list[int] = []
        try:
            for pid in self.pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGSTOP)
                    stopped.append(pid)
            yield
        finally:
            for pid in stopped:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)

    def execute(self, statement: str) -> None:
        """Run one statement in autocommit mode."""
        conn = psycopg2.connect(self.dsn, connect_timeout=5)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(statement)
        finally:
            conn.close()


@pytest.fixture(scope="module")
def server() -> Iterator[PrivatePostgres]:
    """One private cluster for the module, migrated, always stopped afterwards."""
    private = PrivatePostgres()
    try:
        private.create()
        private.start()
        private.execute(migration_sql())
        yield private
    finally:
        private.destroy()


@pytest.fixture
def store(server: PrivatePostgres) -> Iterator[PostgresStore]:
    """A store on the private server, which is up and empty at the start."""
    if not server.running():
        server.start()
    tier = PostgresStore(
        server.dsn, max_connections=4, connect_timeout=2, statement_timeout_ms=1000
    )
    tier.clear()
    yield tier
    tier.close()


def operations(store: PostgresStore) -> dict[str, Callable[[], Any]]:
    """Every RemoteTier call, ready to run."""
    return {
        "get": lambda: store.get("k"),
        "get_many": lambda: store.get_many(["k", "j"]),
        "set": lambda: store.set("k", b"v", 60, ("t",)),
        "set_many": lambda: store.set_many([StoreItem("j", b"w", None, ())]),
        "delete": lambda: store.delete("j"),
        "delete_many": lambda: store.delete_many(["j"]),
        "invalidate_tag": lambda: store.invalidate_tag("nope"),
        "invalidate_pattern": lambda: store.invalidate_pattern("zz*"),
        "cleanup_expired": store.cleanup_expired,
    }


def test_calls_fail_cleanly_while_down_and_recover(
    server: PrivatePostgres, store: PostgresStore
) -> None:
    """Server stopped: every call raises TierUnavailableError/TierTimeoutError
    chained from psycopg2, never a raw driver error. Restarted: the same store
    works at the first call (its dead pooled connections were discarded)."""
    store.set("kept", b"durable", None, ("t",))
    for call in operations(store).values():  # warm up the pooled connections
        call()
    server.stop()
    for name, call in operations(store).items():
        with pytest.raises(FAILURES) as info:
            call()
        assert isinstance(info.value.__cause__, psycopg2.Error), name
        assert "postgres" == info.value.tier, name
    server.start()
    assert b"durable" == store.get("kept")
    for call in operations(store).values():
        call()  # no exception: every call works again
    assert b"v" == store.get("k")


def test_construction_while_down(server: PrivatePostgres) -> None:
    """A store built while the server is down is built; calls fail until it is up.

    The table check runs on the first call that reaches the server.
    """
    server.stop()
    started = time.monotonic()
    tier = PostgresStore(server.dsn, connect_timeout=2)
    try:
        assert time.monotonic() - started < 5
        with pytest.raises(TierUnavailableError) as info:
            tier.get("anything")
        assert isinstance(info.value.__cause__, psycopg2.OperationalError)
        with pytest.raises(TierUnavailableError):
            tier.ensure_ready()
        server.start()
        assert tier.get("anything") is None
        tier.set("k", b"v", 60, ())
        assert b"v" == tier.get("k")
        tier.delete("k")
    finally:
        tier.close()


def test_cache_boots_with_postgres_down_and_degrades(server: PrivatePostgres) -> None:
    """on_tier_error='degrade': the cache starts, misses count, then it recovers."""
    server.stop()
    cache = HydraCache(
        durable=PostgresStore(server.dsn, connect_timeout=1),
        breaker_cooldown=0.2,
    )
    try:
        cache.set("k", "v", cost=Cost.EXPENSIVE)  # the durable write fails over
        cache.local_store.clear()
        assert cache.get("k") is None
        assert cache.stats().tier_errors >= 1
        server.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            cache.set("k2", "v2", cost=Cost.EXPENSIVE)
            cache.local_store.clear()
            if cache.get("k2") == "v2":
                break
            time.sleep(0.25)
        assert "v2" == cache.get("k2")
        assert cache.stats().durable_hits >= 1
    finally:
        cache.close()


def test_strict_cache_raises_with_postgres_down(server: PrivatePostgres) -> None:
    """on_tier_error='raise': building the cache raises, as the store used to."""
    server.stop()
    store = PostgresStore(server.dsn, connect_timeout=1)
    try:
        with pytest.raises(TierUnavailableError):
            HydraCache(durable=store, on_tier_error="raise")
    finally:
        store.close()
        server.start()


def test_missing_table_found_late_is_a_tier_error_naming_the_migration(
    server: PrivatePostgres,
) -> None:
    """A table missing when the server comes back: degraded calls, clear message."""
    server.stop()
    tier = PostgresStore(server.dsn, table="not_migrated", connect_timeout=1)
    try:
        server.start()
        with pytest.raises(TierUnavailableError, match="hydracache_sync schema"):
            tier.get("k")
        with pytest.raises(ConfigError, match="does not exist"):
            tier.ensure_ready()
    finally:
        tier.close()


def test_stopped_under_threads(server: PrivatePostgres, store: PostgresStore) -> None:
    """Four threads (a connection each) calling through a stop and restart see
    only TierUnavailableError/TierTimeoutError while it is down, then succeed."""
    store.set("k", b"v", None, ())
    stop = threading.Event()
    restarted = threading.Event()
    unexpected: list[BaseException] = []
    failures = [0]
    after_restart = [0] * 4

    def worker(n: int) -> None:
        while not stop.is_set():
            try:
                if store.get("k") != b"v":
                    unexpected.append(AssertionError("wrong value"))
                store.set(f"w{n}", b"x", 60, ())
                if restarted.is_set():
                    after_restart[n] += 1
            except FAILURES:
                failures[0] += 1
                time.sleep(0.01)
            except BaseException as exc:
                unexpected.append(exc)
                return

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.3)
        server.stop()
        time.sleep(0.5)
        server.start()
        restarted.set()
        deadline = time.monotonic() + 10
        while min(after_restart) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
    assert [] == unexpected
    assert failures[0] > 0
    assert all(count >= 5 for count in after_restart), after_restart


def test_frozen_server_fails_calls_at_the_client_deadline(
    server: PrivatePostgres,
) -> None:
    """All server processes SIGSTOPped: four threads' calls fail within
    call_timeout + 1 s instead of hanging (TierTimeoutError on a pooled
    connection, cut by the watchdog; a fresh connection fails at
    connect_timeout), and the store works again once the server resumes."""
    store = PostgresStore(
        server.dsn,
        max_connections=4,
        connect_timeout=2,
        statement_timeout_ms=1000,
        call_timeout=2.0,
    )
    try:
        store.set("k", b"v", None, ())
        results: list[tuple[str, float]] = []
        lock = threading.Lock()

        def call(n: int) -> None:
            started = time.monotonic()
            try:
                store.get(f"k{n}")
                outcome = "answered"
            except FAILURES:
                outcome = "failed"
            except BaseException as exc:
                outcome = repr(exc)
            with lock:
                results.append((outcome, time.monotonic() - started))

        with server.frozen():
            threads = [threading.Thread(target=call, args=(n,)) for n in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=30)
        assert ["failed"] * 4 == [outcome for outcome, _ in results]
        assert max(elapsed for _, elapsed in results) < 3.0, results
        assert b"v" == store.get("k")
    finally:
        store.close()
