"""The owned pool opens connections in parallel, outside its lock."""

from __future__ import annotations

import socket
import threading
import time

import pytest

psycopg2 = pytest.importorskip("psycopg2")
pool_module = pytest.importorskip("psycopg2.pool")

from hydracache_sync.tiers._pgpool import open_pool  # noqa: E402


def test_connects_to_a_silent_server_run_in_parallel() -> None:
    """Four connects to a port that accepts but never answers each fail at
    connect_timeout (2 s), together in about 2 s, not one after the other."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    port = silent.getsockname()[1]
    pool = open_pool(
        psycopg2, 0, 4, f"host=127.0.0.1 port={port} dbname=x", connect_timeout="2"
    )
    failures: list[float] = []
    lock = threading.Lock()

    def connect() -> None:
        started = time.monotonic()
        with pytest.raises(psycopg2.OperationalError):
            pool.getconn()
        with lock:
            failures.append(time.monotonic() - started)

    try:
        threads = [threading.Thread(target=connect) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert 4 == len(failures)
        assert max(failures) < 3.5, failures
    finally:
        pool.closeall()
        silent.close()


def test_exhaustion_and_reuse(postgres_dsn: str) -> None:
    """maxconn connections at most; a returned one is handed out again."""
    pool = open_pool(psycopg2, 0, 2, postgres_dsn)
    pool.minconn = 2  # keep returned connections, as PostgresStore does
    try:
        first, second = pool.getconn(), pool.getconn()
        with pytest.raises(pool_module.PoolError):
            pool.getconn()
        pool.putconn(first)
        assert first is pool.getconn()
        pool.putconn(first)
        pool.putconn(second)
    finally:
        pool.closeall()
